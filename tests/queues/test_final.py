"""A job's final state: `store.finish` and `store.request_cancel`, one Lua function between them.

Run against the real Redis server and against fakeredis, which is the embedded development
default and must run the same scripts (it does so through lupa).
"""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.asyncio import Redis

from queues import keys, store
from queues.claim import claim_next
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import read_events
from queues.jobs import JobError
from queues.retention import DEFAULT_RETENTION, Retention
from queues.settings import load_settings
from queues.submit import IDEMPOTENCY_TTL_S, Submission, submit_job

INPUT = b'{"messages": [{"role": "user", "content": "hi"}]}'


async def _queued(redis: Redis, queue: str = "batch") -> str:
    submission = Submission(task="chat_general", queue=queue, input_json=INPUT, params_json=b"{}", owner="o")
    record, _ = await submit_job(redis, submission)
    return record.id


async def _running(redis: Redis, queue: str = "batch") -> str:
    job_id = await _queued(redis, queue)
    claim = await claim_next(redis, queue, in_progress_ms=10_000, worker_id="w1", retention=DEFAULT_RETENTION)
    assert claim is not None and claim.job_id == job_id and claim.started is not None
    return job_id


async def _hash(redis: Redis, job_id: str) -> dict[bytes, bytes]:
    return await redis.hgetall(keys.job(job_id))  # type: ignore[misc,no-any-return]


async def _expect_ttl(redis: Redis, key: str, seconds: int) -> None:
    assert seconds - 5 <= await redis.ttl(key) <= seconds


async def test_a_succeeded_job_keeps_its_output_and_drops_its_input(redis: Redis) -> None:
    job_id = await _running(redis)
    await redis.set(keys.job_cancel(job_id), b"1")  # a cancel that came too late
    assert await store.finish(redis, job_id, output={"answer": 42}, retention=DEFAULT_RETENTION)
    record = await store.get_job(redis, job_id)
    assert record is not None and record.status == "succeeded" and record.output == {"answer": 42}
    assert record.progress == 1.0 and record.error is None
    assert record.finished_at is not None and record.started_at is not None
    assert record.finished_at >= record.started_at
    assert record.expires_at == pytest.approx(record.finished_at + DEFAULT_RETENTION.result_s("batch"))
    raw = await _hash(redis, job_id)
    assert b"input" not in raw
    await _expect_ttl(redis, keys.job(job_id), DEFAULT_RETENTION.record_s("batch"))
    await _expect_ttl(redis, keys.job_events(job_id), DEFAULT_RETENTION.record_s("batch"))
    assert not await redis.exists(keys.job_cancel(job_id))
    last = (await read_events(redis, job_id))[-1]
    assert (last.type, last.data) == ("done", {"status": "succeeded"})


async def test_a_failed_job_records_its_error_and_ends_its_events_with_it(redis: Redis) -> None:
    job_id = await _running(redis, "interactive")
    error = JobError(message="The provider said no.", code="upstream_error", status=502, retryable=True)
    assert await store.finish(redis, job_id, error=error, retention=DEFAULT_RETENTION)
    record = await store.get_job(redis, job_id)
    assert record is not None and record.status == "failed" and record.error == error
    assert record.output is None and record.progress != 1.0
    await _expect_ttl(redis, keys.job(job_id), DEFAULT_RETENTION.record_s("interactive"))
    last = (await read_events(redis, job_id))[-1]
    assert last.type == "error" and last.is_terminal
    assert last.data == {"status": "failed", "error": msgspec.to_builtins(error)}


async def test_the_final_state_is_written_once(redis: Redis) -> None:
    job_id = await _running(redis)
    assert await store.finish(redis, job_id, canceled=True, retention=DEFAULT_RETENTION)
    before, events = await _hash(redis, job_id), await redis.xlen(keys.job_events(job_id))
    assert not await store.finish(redis, job_id, output={"late": True}, retention=DEFAULT_RETENTION)
    assert not await store.finish(redis, job_id, error=JobError(message="late"), retention=DEFAULT_RETENTION)
    assert await _hash(redis, job_id) == before
    assert await redis.xlen(keys.job_events(job_id)) == events
    record = await store.get_job(redis, job_id)
    assert record is not None and record.status == "canceled" and record.output is None


async def test_a_missing_job_is_not_finished_or_created(redis: Redis) -> None:
    assert not await store.finish(redis, "job_missing", output={"x": 1}, retention=DEFAULT_RETENTION)
    assert await store.request_cancel(redis, "job_missing", retention=DEFAULT_RETENTION) is None
    assert not await redis.exists(keys.job("job_missing"), keys.job_events("job_missing"))
    assert not await redis.exists(keys.job_cancel("job_missing"))


async def test_canceling_a_queued_job_ends_it_and_takes_it_out_of_its_queue(redis: Redis) -> None:
    job_id = await _queued(redis, "media")
    record = await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION)
    assert record is not None and record.status == "canceled" and record.finished_at is not None
    assert record.expires_at == pytest.approx(record.finished_at + DEFAULT_RETENTION.result_s("media"))
    assert await redis.zscore(QUEUE_CLASS_LIMITS["media"].queue_name, job_id) is None
    assert not await redis.exists(job_key_prefix + job_id)
    # The flag stays, for a worker that had already taken the job from the queue.
    assert await redis.get(keys.job_cancel(job_id)) == b"1"
    last = (await read_events(redis, job_id))[-1]
    assert (last.type, last.data) == ("done", {"status": "canceled"})


async def test_canceling_a_running_job_tells_its_worker_and_leaves_the_end_to_it(redis: Redis) -> None:
    job_id = await _running(redis)
    events = await redis.xlen(keys.job_events(job_id))
    record = await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION)
    assert record is not None and record.status == "processing"
    await _expect_ttl(redis, keys.job_cancel(job_id), store.CANCEL_FLAG_TTL_S)
    assert await redis.xlen(keys.job_events(job_id)) == events
    assert await redis.zscore(QUEUE_CLASS_LIMITS["batch"].queue_name, job_id) is not None
    assert await redis.exists(in_progress_key_prefix + job_id)


async def test_canceling_a_finished_job_changes_nothing(redis: Redis) -> None:
    job_id = await _running(redis)
    await store.finish(redis, job_id, output={"done": True}, retention=DEFAULT_RETENTION)
    before = await _hash(redis, job_id)
    record = await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION)
    assert record is not None and record.status == "succeeded"
    assert await _hash(redis, job_id) == before
    assert not await redis.exists(keys.job_cancel(job_id))


# Shorter than `MPC_RESULT_TTL_S` may be set, so that nothing here has to wait.
SHORT = Retention(result_ttl_s={"interactive": 2, "batch": 3, "media": 4}, expired_grace_s=5)


async def test_a_short_retention_sets_the_expiry_and_every_ttl_of_the_job(redis: Redis) -> None:
    job_id = await _queued(redis)
    claim = await claim_next(redis, "batch", in_progress_ms=10_000, worker_id="w1", retention=SHORT)
    assert claim is not None and claim.job_id == job_id
    assert 0 < await redis.ttl(keys.job_events(job_id)) <= 3 + 5  # from the start on
    assert await store.record_event(redis, job_id, "log", {"message": "m"}, retention=SHORT)
    assert 0 < await redis.ttl(keys.job_events(job_id)) <= 3 + 5
    assert await store.finish(redis, job_id, output={"answer": 42}, retention=SHORT)
    record = await store.get_job(redis, job_id)
    assert record is not None and record.status == "succeeded" and record.finished_at is not None
    assert record.expires_at == pytest.approx(record.finished_at + 3)
    for key in (keys.job(job_id), keys.job_events(job_id)):
        assert 0 < await redis.ttl(key) <= 3 + 5  # then the job is gone: 404
    # Past its result's TTL, the job reads `expired`, without its output.
    later = await store.get_job(redis, job_id, now=record.finished_at + 3)
    assert later is not None and later.status == "expired" and later.output is None


async def test_a_queued_job_canceled_under_a_short_retention_lives_its_class_s_ttl(redis: Redis) -> None:
    job_id = await _queued(redis, "media")
    record = await store.request_cancel(redis, job_id, retention=SHORT)
    assert record is not None and record.status == "canceled" and record.finished_at is not None
    assert record.expires_at == pytest.approx(record.finished_at + 4)
    assert 0 < await redis.ttl(keys.job(job_id)) <= 4 + 5


async def test_an_idempotency_key_outlives_neither_its_day_nor_its_job(redis: Redis) -> None:
    submission = Submission(
        task="chat_general", queue="batch", input_json=INPUT, params_json=b"{}", owner="o", idempotency_key="k"
    )
    record, _ = await submit_job(redis, submission)
    (idempotency,) = [key async for key in redis.scan_iter(match=keys.idempotency("o", "*"))]
    await _expect_ttl(redis, idempotency, IDEMPOTENCY_TTL_S)
    assert await store.finish(redis, record.id, output={}, retention=SHORT)
    assert 0 < await redis.ttl(idempotency) <= 3 + 5  # gone with the job it names
    other, _ = await submit_job(redis, dataclasses.replace(submission, idempotency_key="k2"))
    (second,) = [key async for key in redis.scan_iter(match=keys.idempotency("o", "*")) if key != idempotency]
    assert await store.finish(redis, other.id, output={}, retention=DEFAULT_RETENTION)
    await _expect_ttl(redis, second, IDEMPOTENCY_TTL_S)  # a longer record does not lengthen it


def test_the_settings_set_one_result_ttl_for_every_class_and_the_grace() -> None:
    assert DEFAULT_RETENTION.result_s("interactive") == QUEUE_CLASS_LIMITS["interactive"].result_ttl_s
    assert DEFAULT_RETENTION.record_s("media") == QUEUE_CLASS_LIMITS["media"].result_ttl_s + 86400
    retention = Retention.from_settings(load_settings({"MPC_RESULT_TTL_S": "120", "MPC_EXPIRED_GRACE_S": "60"}))
    assert [retention.result_s(name) for name in QUEUE_CLASS_LIMITS] == [120, 120, 120]
    assert retention.record_s("interactive") == 180
