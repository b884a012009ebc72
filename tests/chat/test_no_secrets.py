"""No secret ever appears in logs, metrics or errors: keys are sent in every way a client
or operator would, then every log line and metric page is searched for them."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from sandbox.processes import free_port
from tests.support.auth import TEST_API_KEY
from tests.support.litellm import LiteLLMProxy
from tests.support.processes import gateway_process
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow

WRONG_KEY = "sk-wrong-client-key-4242424242"
IDEMPOTENCY_SECRET = "idem-secret-7777777777"


def test_keys_never_reach_logs_or_metrics(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "MPC_REDIS_URL": settings.redis_url,
        "MPC_API_KEYS": TEST_API_KEY,
        "MPC_PORT": str(port),
        "MPC_LITELLM_BASE_URL": litellm.base_url,
        "MPC_LITELLM_API_KEY": litellm.master_key,
        "MPC_LOG_LEVEL": "DEBUG",
        "PATH": "/usr/bin:/bin",
    }
    gateway_log = tmp_path / "gateway.log"
    worker = WorkerProcess(
        settings.redis_url,
        "interactive",
        handlers="",
        extra_env={**env, "MPC_WORKER_METRICS_PORT": str(metrics_port)},
        log=tmp_path / "worker.log",
    )
    try:
        with gateway_process(env, log=gateway_log) as base:
            worker.wait_ready()
            sdk = openai.OpenAI(base_url=f"{base}/api", api_key=TEST_API_KEY, max_retries=0)
            sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(openai.AuthenticationError) as denied:
                openai.OpenAI(base_url=f"{base}/api", api_key=WRONG_KEY, max_retries=0).models.list()
            assert WRONG_KEY not in str(denied.value.body)
            httpx.post(
                f"{base}/api/jobs",
                json={"task": "summarize", "input": {"messages": [{"role": "user", "content": "x"}]}},
                headers={"Authorization": f"Bearer {TEST_API_KEY}", "Idempotency-Key": IDEMPOTENCY_SECRET},
            )
            pages = httpx.get(f"{base}/metrics").text + httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    finally:
        worker.stop()
    logs = gateway_log.read_text() + (tmp_path / "worker.log").read_text()
    assert "POST /api/chat/completions 200" in logs  # the logs are really there
    for secret in (TEST_API_KEY, WRONG_KEY, litellm.master_key, IDEMPOTENCY_SECRET):
        assert secret not in logs, secret
        assert secret not in pages, secret
