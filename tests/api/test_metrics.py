"""Metrics as operators see them: scraped from real processes, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from sandbox.processes import free_port
from tests.support.auth import AUTH, TEST_API_KEY
from tests.support.metrics import scrape
from tests.support.processes import gateway_process
from tests.support.servers import running_server
from tests.support.waiting import wait_until


@pytest.mark.slow
def test_counts_add_up_across_two_gateway_processes(settings: Settings) -> None:
    env = {"MPC_REDIS_URL": settings.redis_url, "MPC_API_KEYS": TEST_API_KEY, "PATH": "/usr/bin"}
    with ExitStack() as gateways:
        bases = [gateways.enter_context(gateway_process({**env, "MPC_PORT": str(free_port())})) for _ in range(2)]
        with httpx.Client(headers=AUTH, timeout=10) as client:
            for i in range(1000):
                client.get(f"{bases[i % 2]}/api/tasks")
        total = sum(
            scrape(f"{base}/metrics").get('mpc_http_requests_total{method="GET",route="/api/tasks",status="200"}', 0)
            for base in bases
        )
    assert total == 1000


def test_gateway_metrics_move_and_pass_promtool(gateway: str) -> None:
    with httpx.Client(base_url=gateway, headers=AUTH) as client:
        client.post("/api/select-model", json={"task": "tts"})
        client.post("/api/select-model", json={"task": "tts", "providers": {"allow": ["anthropic"]}})
        client.post("/api/jobs", json={"task": "video_generate", "input": {"prompt": "a test video"}})
    assert wait_until(lambda: scrape(f"{gateway}/metrics").get('mpc_queue_depth{queue="media"}') == 1, timeout=10)
    samples = scrape(f"{gateway}/metrics")
    assert any(k.startswith("mpc_selections_total{") and 'task="tts"' in k for k in samples)
    assert samples['mpc_selection_failures_total{constraint="providers.allow",task="tts"}'] == 1
    assert samples['mpc_http_requests_total{method="POST",route="/api/select-model",status="422"}'] == 1
    assert samples['mpc_workers_live{queue="interactive"}'] == 0
    assert samples['mpc_jobs_submitted_total{queue="media",task="video_generate"}'] == 1
    assert samples['mpc_breaker_state{provider="openai"}'] == 0
    assert all("test-key" not in k for k in samples)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run tests/scripts/ensure-tools.sh (Debian package 'prometheus')"
    page = httpx.get(f"{gateway}/metrics").content
    result = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_an_unexpected_error_is_counted_as_a_500(settings: Settings, catalog: Catalog) -> None:
    # Starlette's outermost error middleware answers it, past the observability middleware.
    app = create_app(settings, catalog)

    @app.get("/api/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    with running_server(app) as base:
        response = httpx.get(f"{base}/api/broken", headers=AUTH)
        assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
        samples = scrape(f"{base}/metrics")
    assert samples['mpc_http_requests_total{method="GET",route="/api/broken",status="500"}'] == 1
