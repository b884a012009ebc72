"""`claim.claim_next`: taking a class's next job and starting its attempt, one Lua script.

(Which job comes next, between owners, is `queues.fair`'s: tests/queues/test_fair.py.)

Run against the real Redis server and against fakeredis, which is the embedded development
default and must run the same script (it does so through lupa).
"""

from __future__ import annotations

import time

import msgspec
import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import deserialize_job_raw
from redis.asyncio import Redis

from queues import keys, store
from queues.claim import RETRY_COUNT_TTL_S, Claim, claim_next
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import read_events
from queues.fair import recover_orphans
from queues.jobs import JobError
from queues.retention import DEFAULT_RETENTION
from queues.submit import JOB_FUNCTION, Submission, submit_job

INPUT = b'{"messages": [{"role": "user", "content": "hi"}]}'
PARAMS = b'{"chain": []}'
HOLD_MS = 10_000


async def _queued(redis: Redis, queue: str = "interactive") -> str:
    submission = Submission(task="chat_general", queue=queue, input_json=INPUT, params_json=PARAMS, owner="o")
    record, _ = await submit_job(redis, submission)
    return record.id


async def _claim(redis: Redis, job_id: str, queue: str = "interactive", worker: str = "w1") -> Claim | None:
    """The class's next claim, which must be `job_id` when it is anything."""
    claim = await claim_next(redis, queue, in_progress_ms=HOLD_MS, worker_id=worker, retention=DEFAULT_RETENTION)
    assert claim is None or claim.job_id == job_id
    return claim


async def _worker_died(redis: Redis, job_id: str, queue: str = "interactive") -> None:
    """What a dead worker leaves once its in-progress mark and lease have run out, then a
    live worker's poll: the job back in its owner's list."""
    await redis.delete(in_progress_key_prefix + job_id)
    await redis.zadd(keys.fair_leases(queue), {job_id: 0})
    assert await recover_orphans(redis, queue, now_ms=int(time.time() * 1000), lease_ms=HOLD_MS) == 1


async def test_a_queued_job_is_claimed_and_becomes_processing_with_its_payload(redis: Redis) -> None:
    job_id = await _queued(redis, "batch")
    claim = await _claim(redis, job_id, "batch")
    assert claim is not None and claim.job_id == job_id and claim.attempt == 1
    assert claim.score == await redis.zscore(QUEUE_CLASS_LIMITS["batch"].queue_name, job_id)
    assert claim.arq_job is not None
    assert deserialize_job_raw(claim.arq_job)[:2] == (JOB_FUNCTION, (job_id,))
    started = claim.started
    assert started is not None
    assert started.record.status == "processing" and started.record.queue == "batch"
    assert (started.input_json, started.params_json) == (INPUT, PARAMS)
    assert not started.cancel_requested
    # arq's own marks, as arq's worker leaves them: held, one try counted.
    assert 0 < await redis.pttl(in_progress_key_prefix + job_id) <= HOLD_MS
    assert await redis.get(retry_key_prefix + job_id) == b"1"
    assert RETRY_COUNT_TTL_S - 5 <= await redis.ttl(retry_key_prefix + job_id) <= RETRY_COUNT_TTL_S
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
    expected = DEFAULT_RETENTION.record_s("batch")
    assert expected - 5 <= ttl <= expected


async def test_a_job_held_by_a_worker_is_not_claimed_again_and_nothing_is_written(redis: Redis) -> None:
    job_id = await _queued(redis)
    assert await _claim(redis, job_id, worker="w1") is not None
    assert 0 < (await redis.zscore(keys.fair_leases("interactive"), job_id) or 0) <= time.time() * 1000 + HOLD_MS
    before = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    assert await _claim(redis, job_id, worker="w2") is None
    # Its lease ran out but its mark is still there (a late heartbeat): the lease follows the
    # mark, and the job stays with its worker.
    await redis.zadd(keys.fair_leases("interactive"), {job_id: 0})
    assert await recover_orphans(redis, "interactive", now_ms=int(time.time() * 1000), lease_ms=HOLD_MS) == 0
    assert (await redis.zscore(keys.fair_leases("interactive"), job_id) or 0) > time.time() * 1000
    assert await _claim(redis, job_id, worker="w2") is None
    assert await redis.hgetall(keys.job(job_id)) == before  # type: ignore[misc]
    assert await redis.get(retry_key_prefix + job_id) == b"1"
    assert await redis.xlen(keys.job_events(job_id)) == 2


async def test_the_next_worker_after_a_dead_one_runs_the_second_attempt_and_keeps_the_start_time(
    redis: Redis,
) -> None:
    job_id = await _queued(redis)
    await _claim(redis, job_id, worker="w1")
    first = await store.get_job(redis, job_id)
    await _worker_died(redis, job_id)
    again = await _claim(redis, job_id, worker="w2")
    assert again is not None and again.attempt == 2
    assert again.started is not None and again.started.record.status == "processing"
    second = await store.get_job(redis, job_id)
    assert first is not None and second is not None
    assert second.attempts == 2 and second.started_at == first.started_at
    assert await redis.hget(keys.job(job_id), "worker") == b"w2"  # type: ignore[misc]


@pytest.mark.parametrize("final", ["succeeded", "failed"])
async def test_a_final_job_still_queued_is_claimed_for_clean_up_but_not_started(redis: Redis, final: str) -> None:
    # A worker that wrote the final state and died before clearing arq's queue entry.
    job_id = await _queued(redis)
    await _claim(redis, job_id)
    error = JobError(message="no") if final == "failed" else None
    await store.finish(
        redis, job_id, output={"ok": True} if error is None else None, error=error, retention=DEFAULT_RETENTION
    )
    await _worker_died(redis, job_id)
    before = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    events_before = await redis.xlen(keys.job_events(job_id))
    claim = await _claim(redis, job_id, worker="w2")
    assert claim is not None and claim.started is None and claim.arq_job is not None
    assert await redis.hgetall(keys.job(job_id)) == before  # type: ignore[misc]
    assert await redis.xlen(keys.job_events(job_id)) == events_before


async def test_a_canceled_queued_job_is_not_claimed(redis: Redis) -> None:
    job_id = await _queued(redis)
    await store.request_cancel(
        redis, job_id, retention=DEFAULT_RETENTION
    )  # takes it out of the queue and its owner's list
    assert not await redis.exists(keys.fair_waiting("interactive", "o"))
    before = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    assert await _claim(redis, job_id) is None
    assert await redis.hgetall(keys.job(job_id)) == before  # type: ignore[misc]
    assert not await redis.exists(in_progress_key_prefix + job_id, retry_key_prefix + job_id)


async def test_a_job_in_no_queue_is_not_claimed_or_created(redis: Redis) -> None:
    # Listed for its owner but gone from arq's queue (it ended meanwhile): skipped.
    await redis.rpush(keys.fair_waiting("interactive", "o"), "job_missing")  # type: ignore[misc]
    await redis.zadd(keys.fair_ready("interactive"), {"o": float("-inf")})
    assert await _claim(redis, "job_missing") is None
    assert not await redis.exists(keys.fair_waiting("interactive", "o"))
    assert await redis.zcard(keys.fair_ready("interactive")) == 0
    assert not await redis.exists(
        keys.job("job_missing"),
        keys.job_events("job_missing"),
        in_progress_key_prefix + "job_missing",
        retry_key_prefix + "job_missing",
    )


async def test_a_job_scored_after_the_claims_clock_is_still_claimed(redis: Redis) -> None:
    # A claim reads its clock before its script runs; a job submitted in between has a later
    # score and is no deferred job (MPC-API defers with queues.schedule, never through arq).
    job_id = await _queued(redis)
    await redis.zadd(QUEUE_CLASS_LIMITS["interactive"].queue_name, {job_id: int(time.time() * 1000) + 50})
    claim = await _claim(redis, job_id)
    assert claim is not None and claim.started is not None


async def test_a_job_whose_arq_entry_expired_is_claimed_for_clean_up_but_not_started(redis: Redis) -> None:
    job_id = await _queued(redis)
    await redis.delete(job_key_prefix + job_id)
    claim = await _claim(redis, job_id)
    assert claim is not None and claim.arq_job is None and claim.started is None
    record = await store.get_job(redis, job_id)
    assert record is not None and record.status == "queued"


async def test_a_cancel_nobody_heard_is_reported_to_the_runner(redis: Redis) -> None:
    # A running job's cancel is a flag plus a message; a job between two workers (its first
    # one died) has nobody to hear the message, so the next start must see the flag.
    job_id = await _queued(redis)
    await _claim(redis, job_id, worker="w1")
    await store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION)
    await _worker_died(redis, job_id)
    again = await _claim(redis, job_id, worker="w2")
    assert again is not None and again.started is not None and again.started.cancel_requested


async def test_a_server_that_lost_its_scripts_gets_it_again(redis: Redis) -> None:
    await redis.script_flush()
    job_id = await _queued(redis)
    assert await _claim(redis, job_id) is not None
    await redis.script_flush()
    await _worker_died(redis, job_id)
    assert await _claim(redis, job_id) is not None


async def test_the_status_event_is_the_json_readers_decode(redis: Redis) -> None:
    job_id = await _queued(redis)
    for _ in range(3):
        await _worker_died(redis, job_id)
        await _claim(redis, job_id)
    entries = await redis.xrange(keys.job_events(job_id))
    raw = entries[-1][1]
    assert raw[b"type"] == b"status"
    assert msgspec.json.decode(raw[b"data"]) == {"status": "processing", "attempt": 3}
