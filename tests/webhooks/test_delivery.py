"""Webhooks end to end: a real gateway, real worker processes delivering to a real receiver
on loopback, signatures verified with the reference `standardwebhooks` library."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from api.app import create_app
from catalog import Catalog
from queues import keys, webhooks
from queues.settings import Settings
from sandbox.processes import free_port
from tests.support.auth import AUTH
from tests.support.handlers import say
from tests.support.jobs import wait_final, wait_for_job
from tests.support.servers import running_server
from tests.support.webhooks import Call, Receiver
from tests.support.workers import WorkerProcess

StartWorker = Callable[..., WorkerProcess]


def _submit(api: httpx.Client, task: str, job_input: Any, url: str, events: list[str] | None = None) -> str:
    hook: dict[str, Any] = {"url": url} if events is None else {"url": url, "events": events}
    body = {"task": task, "input": job_input, "webhook": hook}
    if task == "video_generate":  # the slow test handler: a real video input, its knobs in params
        body.update(input={"prompt": "a test video"}, params=job_input)
    response = api.post("/api/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _secret(api: httpx.Client) -> str:
    response = api.get("/api/webhooks/secret")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    secret: str = response.json()["secret"]
    return secret


def _verified(call: Call, *secrets: str) -> dict[str, Any]:
    """The event, verified with each secret given (a wrong one raises)."""
    events = [Webhook(secret).verify(call.body, call.headers) for secret in secrets]
    assert all(event == events[0] for event in events)
    event: dict[str, Any] = events[0]
    return event


def _deliveries(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    deliveries: list[dict[str, Any]] = api.get(f"/api/jobs/{job_id}").json()["webhook"]["deliveries"]
    return deliveries


def _settled(api: httpx.Client, job_id: str, timeout: float = 15) -> dict[str, Any]:
    """The job's end delivery once it is no longer pending."""
    end = webhooks.end_delivery_id(job_id)

    def done(state: dict[str, Any]) -> bool:
        found = [d for d in state.get("webhook", {}).get("deliveries", []) if d["id"] == end]
        return bool(found) and found[0]["state"] != "pending"

    state = wait_for_job(api, job_id, done, timeout=timeout)
    delivery: dict[str, Any] = next(d for d in state["webhook"]["deliveries"] if d["id"] == end)
    return delivery


def test_each_end_is_delivered_signed(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    start_worker("interactive")
    start_worker("media")
    secret = _secret(api)

    succeeded = _submit(api, "chat_general", say("hello"), f"{base}/hooks/ok")
    failed = _submit(api, "summarize", say("x"), f"{base}/hooks/failed")
    canceled = _submit(api, "video_generate", {"sleep": 10}, f"{base}/hooks/canceled")
    wait_for_job(api, canceled, lambda state: state["status"] == "processing")
    assert api.post(f"/api/jobs/{canceled}/cancel").status_code == 200

    for job_id, name, event_type in (
        (succeeded, "ok", "job.succeeded"),
        (failed, "failed", "job.failed"),
        (canceled, "canceled", "job.canceled"),
    ):
        job = wait_final(api, job_id)
        [call] = hooks.wait_for(name)
        event = _verified(call, secret)
        assert call.headers["webhook-id"] == webhooks.end_delivery_id(job_id)
        assert call.headers["content-type"] == "application/json"
        assert abs(int(call.headers["webhook-timestamp"]) - time.time()) < 30
        assert event["type"] == event_type
        assert event["timestamp"].endswith("Z")
        view = {k: v for k, v in job.items() if k != "webhook"}
        assert event["data"] == view  # the job as GET /api/jobs/{id} shows it
        delivery = _settled(api, job_id)
        assert delivery["state"] == "delivered" and delivery["type"] == event_type
        [attempt] = delivery["attempts"]
        assert attempt["status"] == 200 and attempt["error"] is None and attempt["next_attempt_at"] is None
        assert job["webhook"]["url"] == f"{base}/hooks/{name}"


def test_progress_events_when_asked_for(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    start_worker("media")
    secret = _secret(api)
    job_id = _submit(api, "video_generate", {"sleep": 0.3}, f"{base}/hooks/p", ["job.progress", "job.succeeded"])
    wait_final(api, job_id)
    _settled(api, job_id)
    events = [_verified(call, secret) for call in hooks.calls_to("p")]
    types = [event["type"] for event in events]
    assert types.count("job.succeeded") == 1 and types.count("job.progress") >= 1
    assert len({call.headers["webhook-id"] for call in hooks.calls_to("p")}) == len(events)


def test_a_receiver_down_then_up_gets_the_event_with_the_same_id(api: httpx.Client, start_worker: StartWorker) -> None:
    start_worker("media")
    secret = _secret(api)
    port = free_port()
    job_id = _submit(api, "video_generate", {"sleep": 0}, f"http://127.0.0.1:{port}/hooks/late")
    wait_final(api, job_id)
    first = wait_for_job(api, job_id, lambda s: bool(s["webhook"]["deliveries"][0]["attempts"]))
    [failed] = first["webhook"]["deliveries"][0]["attempts"]
    assert failed["status"] is None and "connect" in failed["error"]
    assert failed["next_attempt_at"] - failed["at"] == pytest.approx(5, abs=1)

    late = Receiver()
    with running_server(late.app, port=port):
        # Due 5 s after the first attempt; 30 s more should a loaded machine start the
        # receiver after that.
        [call] = late.wait_for("late", timeout=45)
        delivery = _settled(api, job_id)
    assert call.headers["webhook-id"] == webhooks.end_delivery_id(job_id)
    assert _verified(call, secret)["type"] == "job.succeeded"
    statuses = [a["status"] for a in delivery["attempts"]]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {None}
    assert delivery["state"] == "delivered"


@pytest.mark.parametrize(("answer", "retried"), [(410, False), (307, False), (503, True), (429, True)])
def test_which_answers_are_retried(
    api: httpx.Client,
    start_worker: StartWorker,
    receiver: tuple[Receiver, str],
    clean_redis: str,
    answer: int,
    retried: bool,
) -> None:
    hooks, base = receiver
    hooks.answers["h"] = [answer]
    start_worker("media")
    job_id = _submit(api, "video_generate", {"sleep": 0}, f"{base}/hooks/h")
    wait_final(api, job_id)
    hooks.wait_for("h")
    attempts = wait_for_job(api, job_id, lambda s: bool(s["webhook"]["deliveries"][0]["attempts"]))
    delivery = attempts["webhook"]["deliveries"][0]
    [attempt] = delivery["attempts"]
    assert attempt["status"] == answer
    client = redis.Redis.from_url(clean_redis)
    try:
        due = client.zscore(keys.WEBHOOK_DELIVERIES, delivery["id"])
    finally:
        client.close()
    if retried:
        assert delivery["state"] == "pending" and attempt["next_attempt_at"] is not None
        assert due is not None
    else:
        assert delivery["state"] == "failed" and attempt["next_attempt_at"] is None
        assert due is None  # off the schedule: never tried again


def test_private_targets_are_refused_at_submission(settings: Settings, catalog: Catalog) -> None:
    with (
        running_server(create_app(settings, catalog)) as base,  # no MPC_OUTBOUND_ALLOW
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as api,
    ):
        for url in (
            "https://10.0.0.7/hook",
            "https://127.0.0.1:8443/hook",
            "https://localhost/hook",
            "https://[::ffff:169.254.169.254]/hook",
            "https://[fd00::1]/hook",
            "http://hooks.example.com/in",  # not https
            "https://user:pw@hooks.example.com/in",
            "ftp://hooks.example.com/in",
            "not a url",
        ):
            response = api.post(
                "/api/jobs", json={"task": "video_generate", "input": {"prompt": "x"}, "webhook": {"url": url}}
            )
            assert response.status_code == 422, (url, response.text)
            assert response.json()["error"]["param"] == "webhook.url", url
        bad_events = api.post(
            "/api/jobs",
            json={
                "task": "video_generate",
                "input": {"prompt": "x"},
                "webhook": {"url": "https://a.example", "events": ["x"]},
            },
        )
        assert bad_events.status_code == 422 and bad_events.json()["error"]["param"] == "webhook.events[0]"
        ok = api.post(
            "/api/jobs",
            json={
                "task": "video_generate",
                "input": {"prompt": "x"},
                "webhook": {"url": "https://hooks.example.com/in"},
            },
        )
        assert ok.status_code == 202


def test_a_private_target_is_refused_at_delivery(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    start_worker("media", allow=False)  # the gateway allows loopback names, this worker does not
    url = base.replace("127.0.0.1", "localhost") + "/hooks/private"
    job_id = _submit(api, "video_generate", {"sleep": 0}, url)
    delivery = _settled(api, job_id)
    [attempt] = delivery["attempts"]
    assert delivery["state"] == "failed" and attempt["status"] is None
    assert "private or reserved address" in attempt["error"] and "MPC_OUTBOUND_ALLOW" in attempt["error"]
    assert hooks.calls_to("private") == []


def test_after_a_rotation_old_and_new_secrets_verify(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    start_worker("media")
    old = _secret(api)
    rotated = api.post("/api/webhooks/secret/rotate").json()
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_") and _secret(api) == new
    assert rotated["previous_secret_expires_at"] == pytest.approx(time.time() + 86400, abs=30)

    job_id = _submit(api, "video_generate", {"sleep": 0}, f"{base}/hooks/r")
    [call] = hooks.wait_for("r")
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    assert _verified(call, old, new)["data"]["id"] == job_id


def test_a_slow_receiver_does_not_delay_another(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    hooks.delays["slow"] = 8
    start_worker("media")
    slow = [_submit(api, "video_generate", {"sleep": 0}, f"{base}/hooks/slow") for _ in range(6)]
    hooks.wait_for("slow")
    other = Receiver()
    with running_server(other.app) as other_base:
        fast = _submit(api, "video_generate", {"sleep": 0}, f"{other_base}/hooks/fast")
        ended = wait_final(api, fast)["finished_at"]
        [call] = other.wait_for("fast", timeout=5)
    assert call.at - ended < 2
    assert all(d["state"] == "pending" for job_id in slow for d in _deliveries(api, job_id))


def test_secrets_stay_out_of_logs_and_records(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str], clean_redis: str, tmp_path: Path
) -> None:
    hooks, base = receiver
    log = tmp_path / "worker.log"
    start_worker("media", log=log)
    secret = _secret(api)
    job_id = _submit(api, "video_generate", {"sleep": 0}, f"{base}/hooks/s?token=query-secret")
    _verified(hooks.wait_for("s")[0], secret)
    _settled(api, job_id)

    key_material = secret.removeprefix("whsec_")
    logged = log.read_text()
    assert "webhook job.succeeded" in logged  # the delivery was logged ...
    assert key_material not in logged and "query-secret" not in logged  # ... without secrets
    job = json.dumps(api.get(f"/api/jobs/{job_id}").json())
    assert key_material not in job
    client = redis.Redis.from_url(clean_redis)
    try:
        for key in client.scan_iter():
            if not key.startswith(keys.WEBHOOK_SECRET.encode()):
                assert key_material.encode() not in _stored(client, key), key
    finally:
        client.close()


def _stored(client: Any, key: bytes) -> bytes:
    """Everything a key holds, as bytes (hash values, list items, stream entries, a string)."""
    kind = client.type(key)
    if kind == b"hash":
        return b"".join(client.hgetall(key).values())
    if kind == b"list":
        return b"".join(client.lrange(key, 0, -1))
    if kind == b"stream":
        return str(client.xrange(key)).encode()
    if kind == b"string":
        return bytes(client.get(key) or b"")
    return b""


def test_a_stopping_worker_hands_its_sends_to_another(
    api: httpx.Client, start_worker: StartWorker, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    hooks.delays["held"] = 20  # the first send hangs past the stop (its 10 s run out later)
    first = start_worker("media")
    job_id = _submit(api, "video_generate", {"sleep": 0}, f"{base}/hooks/held")
    hooks.wait_for("held")
    hooks.delays["held"] = 0
    start_worker("media")
    assert first.stop(signal.SIGTERM) == 0
    calls = hooks.wait_for("held", count=2, timeout=15)  # well before the 60 s lease runs out
    assert {call.headers["webhook-id"] for call in calls} == {webhooks.end_delivery_id(job_id)}
    assert _settled(api, job_id)["state"] == "delivered"
