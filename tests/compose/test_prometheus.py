"""A real Prometheus scrapes a real gateway and a real worker with the stack's scrape config;
promtool checks that config and the worker's /metrics page; the compose healthchecks run
against the real processes.

One gateway (uvicorn in a thread, as tests/api) and one worker process (as tests/workers,
with MPC_WORKER_METRICS_PORT) serve every test in this module.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings, hash_api_key
from sandbox.processes import free_port, port_answers, stop_process
from tests.compose.dashboards import dashboard_files, load, queries
from tests.support.auth import AUTH, TEST_API_KEY
from tests.support.handlers import say
from tests.support.processes import answers_ok
from tests.support.servers import running_server
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
PROMETHEUS_YML = COMPOSE / "prometheus" / "prometheus.yml"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run tests/scripts/ensure-tools.sh (Debian package 'prometheus')"
    return path


@dataclass
class Stack:
    gateway: str  # base URL
    gateway_port: int
    worker_port: int

    @property
    def worker_metrics(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}/metrics"


@pytest.fixture(scope="module")
def stack(redis_url: str, catalog: Catalog) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    settings = Settings(redis_url=redis_url, api_key_hashes=(hash_api_key(TEST_API_KEY),))
    worker_port = free_port()
    worker = WorkerProcess(redis_url, "interactive", extra_env={"MPC_WORKER_METRICS_PORT": str(worker_port)})
    try:
        with running_server(create_app(settings, catalog)) as gateway:
            worker.wait_ready()
            assert wait_until(lambda: port_answers(worker_port), timeout=10)
            with httpx.Client(base_url=gateway, headers=AUTH, timeout=20) as api:
                # One job through the worker, so its histograms and counters have samples.
                done = api.post(
                    "/api/jobs", json={"task": "chat_general", "input": say("hi")}, headers={"Prefer": "wait=15"}
                )
                assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
                api.post("/api/select-model", json={"task": "chat_general"})
            yield Stack(gateway, int(gateway.rsplit(":", 1)[1]), worker_port)
    finally:
        worker.stop()


def scrape_config(stack: Stack, prometheus_port: int) -> dict[str, Any]:
    """compose/prometheus/prometheus.yml with only what cannot work outside Docker replaced.

    - The gateway and worker jobs' `dns_sd_configs` (A records of the compose service names,
      one per replica) become `static_configs` entries for the test's processes: those names resolve
      only inside the compose network. The label DNS discovery would give (service) is set
      on the static target, and the job's relabel rules are kept as they are.
    - The compose host name localhost:9090 becomes this test's loopback port.
    - Intervals drop from 15 s to 1 s so the test is quick.
    Everything else (job names, metrics paths, relabelling) is the file as shipped.
    """
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(PROMETHEUS_YML.read_text()))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway = jobs["mpc-gateway"]
    (gateway_dns,) = gateway.pop("dns_sd_configs")
    assert gateway_dns["names"] == ["gateway"] and gateway_dns["port"] == 3000
    gateway["static_configs"] = [{"targets": [f"127.0.0.1:{stack.gateway_port}"], "labels": {"service": "gateway"}}]
    worker = jobs["mpc-worker"]
    (dns,) = worker.pop("dns_sd_configs")
    assert "worker-interactive" in dns["names"] and dns["port"] == 9101
    worker["static_configs"] = [
        {"targets": [f"127.0.0.1:{stack.worker_port}"], "labels": {"service": "worker-interactive"}}
    ]
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{prometheus_port}"]}]
    return config


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(stack, port)))
    check = subprocess.run([tool("promtool"), "check", "config", str(config)], capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: answers_ok(f"{base}/-/ready"), timeout=20), (workdir / "prometheus.log").read_text()
        yield base
    finally:
        stop_process(process)
        log.close()


def query(base: str, promql: str, client: httpx.Client | None = None) -> list[dict[str, Any]]:
    response = (client or httpx).get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{promql}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_promtool_accepts_the_compose_scrape_config() -> None:
    result = subprocess.run([tool("promtool"), "check", "config", str(PROMETHEUS_YML)], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_worker_metrics_pass_promtool(stack: Stack) -> None:
    page = httpx.get(stack.worker_metrics, timeout=5).content
    assert b'mpc_worker_up{queue="interactive"} 1.0' in page
    assert b'mpc_jobs_finished_total{outcome="succeeded",queue="interactive",task="chat_general"} 1.0' in page
    assert b"mpc_job_wait_seconds_bucket{" in page
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=page, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_prometheus_scrapes_gateway_and_worker(prometheus: str) -> None:
    def both_up() -> bool:
        up = {s["metric"]["job"]: s["value"][1] for s in query(prometheus, 'up{job=~"mpc-.*"}')}
        return up == {"mpc-gateway": "1", "mpc-worker": "1"}

    assert wait_until(both_up, timeout=20, interval=0.25), query(prometheus, "up")
    requests = query(prometheus, "mpc_http_requests_total")
    assert any(s["metric"]["route"] == "/api/select-model" for s in requests)
    assert {s["metric"]["service"] for s in requests} == {"gateway"}
    (worker_up,) = query(prometheus, "mpc_worker_up")
    assert worker_up["metric"]["queue"] == "interactive" and worker_up["value"][1] == "1"
    assert worker_up["metric"]["service"] == "worker-interactive" and worker_up["metric"]["job"] == "mpc-worker"
    finished = query(prometheus, 'mpc_jobs_finished_total{outcome="succeeded"}')
    assert [s["value"][1] for s in finished] == ["1"]


def test_every_dashboard_query_runs_on_prometheus(prometheus: str) -> None:
    """Each panel query parses and evaluates on a real Prometheus scraping real processes."""
    # Two scrapes of each target, so rate() has two points.
    two_scrapes = 'count_over_time(up{job=~"mpc-.*"}[1m]) >= 2'
    assert wait_until(lambda: len(query(prometheus, two_scrapes)) == 2, timeout=20, interval=0.25)
    empty: list[str] = []
    with httpx.Client() as client:
        for path in dashboard_files():
            for _, target in queries(load(path)):
                expr = target["expr"].replace("$__rate_interval", "1m")
                if not query(prometheus, expr, client):
                    empty.append(expr)
    # Series that exist from start-up (gauges and counters that moved) must show data.
    shown = [e for e in empty if any(m in e for m in ("mpc_queue_depth", "mpc_workers_live", "mpc_worker_up"))]
    shown += [e for e in empty if "mpc_http_requests_total" in e and "status=~" not in e]
    assert not shown, json.dumps(shown, indent=1)


def _healthcheck(service: str) -> list[str]:
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    test: list[str] = compose["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python" and test[2] == "-c"
    return test


def run_healthcheck(service: str, container_port: int, port: int) -> int:
    code = _healthcheck(service)[3]
    assert f"127.0.0.1:{container_port}" in code
    code = code.replace(f"127.0.0.1:{container_port}", f"127.0.0.1:{port}")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20).returncode


def test_compose_healthchecks_pass_on_live_processes_and_fail_on_dead_ports(stack: Stack) -> None:
    assert run_healthcheck("gateway", 3000, stack.gateway_port) == 0
    for worker in ("worker-interactive", "worker-batch", "worker-media"):
        assert run_healthcheck(worker, 9101, stack.worker_port) == 0
    dead = free_port()
    assert run_healthcheck("gateway", 3000, dead) != 0
    assert run_healthcheck("worker-media", 9101, dead) != 0
