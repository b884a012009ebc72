"""No secret ever appears in logs, metrics, error bodies, job records or webhook payloads:
keys are sent in every way a client or operator would, errors and fallbacks happen, a
webhook is signed and delivered, then every place is searched for every configured secret
(client keys, the LiteLLM master key, the provider key LiteLLM holds, webhook secrets,
an Idempotency-Key)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
import redis

from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from sandbox.litellm_proxy import PLACEHOLDER_KEY
from sandbox.processes import free_port
from tests.support.auth import OTHER_API_KEY, TEST_API_KEY
from tests.support.litellm import LiteLLMProxy
from tests.support.processes import gateway_process
from tests.support.servers import running_server
from tests.support.webhooks import Receiver
from tests.support.workers import LOOPBACK_ALLOW, WorkerProcess

pytestmark = pytest.mark.slow

WRONG_KEY = "sk-wrong-client-key-4242424242"
IDEMPOTENCY_SECRET = "idem-secret-7777777777"


def test_secrets_never_reach_logs_metrics_errors_records_or_webhooks(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, tmp_path: Path
) -> None:
    """A session of key use, errors, fallbacks and webhooks; then every place a secret could
    leak to is searched for every configured secret."""
    port, metrics_port = free_port(), free_port()
    env = {
        "MPC_REDIS_URL": settings.redis_url,
        "MPC_API_KEYS": f"{TEST_API_KEY},{OTHER_API_KEY}",
        "MPC_PORT": str(port),
        "MPC_LITELLM_BASE_URL": litellm.base_url,
        "MPC_LITELLM_API_KEY": litellm.master_key,
        "MPC_OUTBOUND_ALLOW": LOOPBACK_ALLOW,  # the webhook receiver is on loopback
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
    answers: list[str] = []  # every body the gateway answered, errors included
    receiver = Receiver()
    try:
        with running_server(receiver.app) as hooks, gateway_process(env, log=gateway_log) as base:
            worker.wait_ready()
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TEST_API_KEY}"}, timeout=30)
            sdk = openai.OpenAI(base_url=f"{base}/api", api_key=TEST_API_KEY, max_retries=0)
            sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(openai.AuthenticationError) as denied:
                openai.OpenAI(base_url=f"{base}/api", api_key=WRONG_KEY, max_retries=0).models.list()
            answers.append(str(denied.value.body))
            # Errors: every model of the chain fails (a fallback each time), bad input, deep JSON.
            for body in (
                {
                    "model": "auto",
                    "messages": [{"role": "user", "content": "hi [emulate: status=503]"}],
                    "fallbacks": 1,
                },
                {"model": "auto", "messages": [{"role": "nobody", "content": TEST_API_KEY}]},
            ):
                answers.append(api.post("/api/chat/completions", json=body).text)
            answers.append(api.post("/api/jobs", content=b"[" * 10_000).text)
            # Webhook secrets: read, rotated, then a job that calls a webhook signed with them.
            secrets_seen = [api.get("/api/webhooks/secret").json()["secret"]]
            secrets_seen.append(api.post("/api/webhooks/secret/rotate").json()["secret"])
            job = {
                "task": "summarize",
                "input": {"messages": [{"role": "user", "content": "x"}]},
                "webhook": {"url": f"{hooks}/hooks/done"},
            }
            submitted = api.post("/api/jobs", json=job, headers={"Idempotency-Key": IDEMPOTENCY_SECRET})
            job_id = submitted.json()["id"]
            calls = receiver.wait_for("done")
            answers += [submitted.text, api.get(f"/api/jobs/{job_id}").text, api.get(f"/api/jobs/{job_id}/events").text]
            answers.append(
                httpx.get(f"{base}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {OTHER_API_KEY}"}).text
            )
            pages = httpx.get(f"{base}/metrics").text + httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            api.close()
    finally:
        worker.stop()
    logs = gateway_log.read_text() + (tmp_path / "worker.log").read_text()
    assert "POST /api/chat/completions 200" in logs  # the logs are really there
    assert any('"code":"json_too_deep"' in answer for answer in answers)  # and the errors
    webhook_payloads = " ".join(call.body.decode() + repr(call.headers) for call in calls)
    assert job_id in webhook_payloads
    records = _redis_records(settings.redis_url)
    assert job_id in records
    configured = (TEST_API_KEY, OTHER_API_KEY, WRONG_KEY, litellm.master_key, PLACEHOLDER_KEY, IDEMPOTENCY_SECRET)
    places = {"logs": logs, "metrics": pages, "answers": " ".join(answers), "records": records}
    places["webhooks"] = webhook_payloads
    for secret in (*configured, *secrets_seen, *(s.removeprefix("whsec_") for s in secrets_seen)):
        for place, text in places.items():
            # The webhook secret is shown to its owner on purpose (GET /api/webhooks/secret), nowhere else.
            assert secret not in text, f"a secret in {place}"


def _redis_records(redis_url: str) -> str:
    """Every job record, event and webhook delivery the session left in the test's database."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        dumped = []
        for key in client.keys("mpc:*"):  # the test's own database: a keyspace read is fine here
            if key.startswith("mpc:webhook_secret:"):
                continue  # where the signing secret is kept (its one place): not a record of anything
            kind = client.type(key)
            if kind == "hash":
                dumped.append(repr(client.hgetall(key)))
            elif kind == "stream":
                dumped.append(repr(client.xrange(key)))
            elif kind == "list":
                dumped.append(repr(client.lrange(key, 0, -1)))
            elif kind == "string":
                dumped.append(str(client.get(key)))
        return "\n".join(dumped)
    finally:
        client.close()
