"""`store.start_attempt`: the one-round-trip start of a job's attempt (a Lua script).

Run against the real Redis server and against fakeredis, which is the embedded development
default and must run the same script (it does so through lupa).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import msgspec
import pytest
from redis.asyncio import Redis

from queues import keys, store
from queues.classes import EXPIRED_GRACE_S, QUEUE_CLASS_LIMITS
from queues.events import read_events
from queues.jobs import JobError
from queues.redis import connect
from queues.submit import Submission, submit_job

INPUT = b'{"messages": [{"role": "user", "content": "hi"}]}'
PARAMS = b'{"chain": []}'


@pytest.fixture(params=["redis-server", "fakeredis"])
async def redis(request: pytest.FixtureRequest, clean_redis: str) -> AsyncIterator[Redis]:
    client = connect(clean_redis) if request.param == "redis-server" else fakeredis.FakeAsyncRedis()
    try:
        yield client
    finally:
        await client.aclose()


async def _queued(redis: Redis, queue: str = "interactive") -> str:
    submission = Submission(task="chat_general", queue=queue, input_json=INPUT, params_json=PARAMS, owner="o")
    record, _ = await submit_job(redis, submission)
    return record.id


async def test_a_queued_job_becomes_processing_with_its_payload(redis: Redis) -> None:
    job_id = await _queued(redis, "batch")
    started = await store.start_attempt(redis, job_id, attempt=1, worker_id="w1")
    assert started is not None
    assert started.record.status == "processing" and started.record.queue == "batch"
    assert (started.input_json, started.params_json) == (INPUT, PARAMS)
    assert not started.cancel_requested
    now = await store.get_job(redis, job_id)
    assert now is not None and now.status == "processing" and now.attempts == 1
    assert now.started_at is not None and now.started_at >= now.created_at
    assert await redis.hget(keys.job(job_id), "worker") == b"w1"  # type: ignore[misc]
    events = await read_events(redis, job_id)
    assert [(e.type, e.data) for e in events] == [
        ("status", {"status": "queued"}),
        ("status", {"status": "processing", "attempt": 1}),
    ]
    # The events live as long as the finished job will, per the job's own queue class.
    ttl = await redis.ttl(keys.job_events(job_id))
    expected = QUEUE_CLASS_LIMITS["batch"].result_ttl_s + EXPIRED_GRACE_S
    assert expected - 5 <= ttl <= expected


async def test_a_second_attempt_keeps_the_first_start_time(redis: Redis) -> None:
    job_id = await _queued(redis)
    await store.start_attempt(redis, job_id, attempt=1, worker_id="w1")
    first = await store.get_job(redis, job_id)
    again = await store.start_attempt(redis, job_id, attempt=2, worker_id="w2")
    assert again is not None and again.record.status == "processing"
    second = await store.get_job(redis, job_id)
    assert first is not None and second is not None
    assert second.attempts == 2 and second.started_at == first.started_at


@pytest.mark.parametrize("final", ["succeeded", "failed", "canceled"])
async def test_a_final_job_is_not_started_and_nothing_is_written(redis: Redis, final: str) -> None:
    job_id = await _queued(redis)
    if final == "canceled":
        await store.request_cancel(redis, job_id)
    else:
        await store.start_attempt(redis, job_id, attempt=1, worker_id="w1")
        error = JobError(message="no") if final == "failed" else None
        await store.finish(redis, job_id, output={"ok": True} if error is None else None, error=error)
    before = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    events_before = await redis.xlen(keys.job_events(job_id))
    assert await store.start_attempt(redis, job_id, attempt=2, worker_id="w2") is None
    assert await redis.hgetall(keys.job(job_id)) == before  # type: ignore[misc]
    assert await redis.xlen(keys.job_events(job_id)) == events_before


async def test_a_missing_job_is_not_started_or_created(redis: Redis) -> None:
    assert await store.start_attempt(redis, "job_missing", attempt=1, worker_id="w1") is None
    assert not await redis.exists(keys.job("job_missing"), keys.job_events("job_missing"))


async def test_a_cancel_nobody_heard_is_reported_to_the_runner(redis: Redis) -> None:
    # A running job's cancel is a flag plus a message; a job between two workers (its first
    # one died) has nobody to hear the message, so the next start must see the flag.
    job_id = await _queued(redis)
    await store.start_attempt(redis, job_id, attempt=1, worker_id="w1")
    await store.request_cancel(redis, job_id)
    again = await store.start_attempt(redis, job_id, attempt=2, worker_id="w2")
    assert again is not None and again.cancel_requested


async def test_a_server_that_lost_its_scripts_gets_it_again(redis: Redis) -> None:
    await redis.script_flush()
    job_id = await _queued(redis)
    assert await store.start_attempt(redis, job_id, attempt=1, worker_id="w1") is not None
    await redis.script_flush()
    assert await store.start_attempt(redis, job_id, attempt=2, worker_id="w1") is not None


async def test_the_status_event_is_the_json_readers_decode(redis: Redis) -> None:
    job_id = await _queued(redis)
    await store.start_attempt(redis, job_id, attempt=3, worker_id="w1")
    entries = await redis.xrange(keys.job_events(job_id))
    raw = entries[-1][1]
    assert raw[b"type"] == b"status"
    assert msgspec.json.decode(raw[b"data"]) == {"status": "processing", "attempt": 3}
