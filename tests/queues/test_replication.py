"""A submission is acknowledged only once the replicas its client requires have it: without
them in time, `NotReplicated` (the gateway's 503 `not_replicated`), and the job is the one a
retry with the same Idempotency-Key gets. (With a real replica: tests/scale/.)"""

from __future__ import annotations

import time

import httpx
import msgspec
import pytest

from api.app import create_app
from catalog import Catalog
from queues.redis import ReplicaAcks, connect
from queues.replication import NotReplicated
from queues.settings import Settings
from queues.store import get_job
from queues.submit import Submission, submit_job
from tests.support.auth import AUTH
from tests.support.servers import running_server

SUBMISSION = Submission(
    task="chat_general", queue="interactive", input_json=b"{}", params_json=b"{}", owner="o", idempotency_key="k-1"
)


async def test_with_no_replica_to_confirm_the_submission_is_not_acknowledged(clean_redis: str) -> None:
    # The test's Redis has no replica: WAIT 1 returns 0 when its timeout ends.
    redis = connect(clean_redis, replica_acks=ReplicaAcks(replicas=1, timeout_ms=50))
    try:
        began = time.monotonic()
        with pytest.raises(NotReplicated) as first:
            await submit_job(redis, SUBMISSION)
        assert time.monotonic() - began >= 0.05
        assert (first.value.confirmed, first.value.required) == (0, 1)
        # The job was written (it may run); a retry with the same key finds it, and waits again.
        assert await get_job(redis, first.value.job_id) is not None
        with pytest.raises(NotReplicated) as again:
            await submit_job(redis, SUBMISSION)
        assert again.value.job_id == first.value.job_id
    finally:
        await redis.aclose()


async def test_with_no_replica_required_it_is_acknowledged_at_once(clean_redis: str) -> None:
    redis = connect(clean_redis, replica_acks=ReplicaAcks(replicas=0, timeout_ms=50))
    try:
        record, created = await submit_job(redis, SUBMISSION)
        assert created and record.status == "queued"
    finally:
        await redis.aclose()


def test_the_gateway_answers_503_not_replicated_with_retry_after(settings: Settings, catalog: Catalog) -> None:
    waiting = msgspec.structs.replace(settings, redis_ack_replicas=1, redis_ack_timeout_ms=50)
    with running_server(create_app(waiting, catalog)) as base, httpx.Client(base_url=base, headers=AUTH) as client:
        body = {"task": "chat_general", "input": {"messages": [{"role": "user", "content": "hi"}]}}
        response = client.post("/api/jobs", json=body, headers={"Idempotency-Key": "retry-me"})
        chat = client.post("/api/chat/completions", json={"model": "auto", "messages": body["input"]["messages"]})
    for answer in (response, chat):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        error = answer.json()["error"]
        assert error["code"] == "not_replicated" and error["type"] == "service_unavailable"
    assert "Idempotency-Key" in response.json()["error"]["message"]
