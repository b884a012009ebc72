"""Job state transitions, each one atomic (WATCH/MULTI on the job's hash).

A final state (`succeeded`, `failed`, `canceled`) is written at most once: every transition
first reads the record under WATCH and gives up if another writer got there first. The start
of an attempt, on the path of every chat's first token, is part of taking the job from its
queue: one Lua script, in `queues.claim`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from arq.constants import job_key_prefix
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from queues import keys
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import EventType, add_event, append_event
from queues.jobs import JobError, JobRecord, encode_json, record_from_hash
from queues.redis import database_of

Writes = Callable[[Pipeline], None]
Decision = Callable[[JobRecord], Writes | None]

# How long a job's cancel flag lives: longer than any job may run.
CANCEL_FLAG_TTL_S = 7200


async def get_job(redis: Redis, job_id: str, *, now: float | None = None) -> JobRecord | None:
    raw = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    return record_from_hash(raw, now=time.time() if now is None else now)


async def transition(redis: Redis, job_id: str, decide: Decision) -> JobRecord | None:
    """Read the record under WATCH, let `decide` queue writes (or return None), commit.

    Returns the record `decide` saw when its writes were committed, else None.
    """
    committed = await _transition(redis, job_id, decide)
    return None if committed is None else committed[0]


async def _transition(redis: Redis, job_id: str, decide: Decision) -> tuple[JobRecord, dict[bytes, bytes]] | None:
    """`transition`, also returning the raw hash it read (input and params included)."""
    key = keys.job(job_id)
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.hgetall(key)  # type: ignore[misc]
                record = record_from_hash(raw, now=time.time())
                if record is None:
                    return None
                writes = decide(record)
                if writes is None:
                    return None
                pipe.multi()  # type: ignore[no-untyped-call]
                writes(pipe)
                await pipe.execute()
                return record, raw
            except WatchError:
                continue


def _ttl(record: JobRecord) -> int:
    return QUEUE_CLASS_LIMITS[record.queue].record_ttl_s


async def record_event(
    redis: Redis, job_id: str, event_type: EventType, data: Any, *, progress: float | None = None
) -> bool:
    """Add a `progress`, `output` or `log` event while the job is not final."""

    def decide(record: JobRecord) -> Writes | None:
        if record.is_final:
            return None

        def writes(pipe: Pipeline) -> None:
            if progress is not None:
                pipe.hset(keys.job(job_id), "progress", repr(progress))
            add_event(pipe, job_id, event_type, data, ttl_s=_ttl(record))

        return writes

    return await transition(redis, job_id, decide) is not None


async def append_outputs(redis: Redis, job_id: str, chunks: list[Any]) -> None:
    """`output` events without the final-state check of `record_event`: streamed tokens are
    the hot path, and the job's own runner is their only writer. No EXPIRE: `claim_job`
    created the stream with the job's TTL, and XADD keeps it. Several chunks go in one
    MULTI, so a reader blocked on the stream wakes once and gets them all."""
    if len(chunks) == 1:
        await append_event(redis, job_id, "output", chunks[0])
        return
    async with redis.pipeline(transaction=True) as pipe:
        for chunk in chunks:
            append_event(pipe, job_id, "output", chunk)
        await pipe.execute()


async def finish(
    redis: Redis,
    job_id: str,
    *,
    output: Any = None,
    error: JobError | None = None,
    canceled: bool = False,
) -> JobRecord | None:
    """Write the job's one final state; None if it was already final (or is gone)."""
    now = time.time()
    status = "canceled" if canceled else ("failed" if error is not None else "succeeded")

    def decide(record: JobRecord) -> Writes | None:
        if record.is_final:
            return None
        return lambda pipe: _write_final(pipe, record, status, now, output=output, error=error)

    return await transition(redis, job_id, decide)


def _write_final(
    pipe: Pipeline, record: JobRecord, status: str, now: float, *, output: Any = None, error: JobError | None = None
) -> None:
    key = keys.job(record.id)
    fields: dict[str, str | bytes] = {
        "status": status,
        "finished_at": repr(now),
        "expires_at": repr(now + QUEUE_CLASS_LIMITS[record.queue].result_ttl_s),
    }
    if status == "succeeded":
        fields["progress"] = "1.0"
        fields["output"] = encode_json(output)
    if error is not None:
        fields["error"] = encode_json(error)
    pipe.hset(key, mapping=fields)
    pipe.hdel(key, "input")  # no longer needed; the output is what is kept
    pipe.expire(key, _ttl(record))
    pipe.delete(keys.job_cancel(record.id))
    if status == "failed":
        add_event(pipe, record.id, "error", {"status": status, "error": error}, ttl_s=_ttl(record))
    else:
        add_event(pipe, record.id, "done", {"status": status}, ttl_s=_ttl(record))


async def requeue(redis: Redis, job_id: str, reason: str) -> None:
    """processing → queued, when a stopping worker hands the job back to the queue."""

    def decide(record: JobRecord) -> Writes | None:
        if record.status != "processing":
            return None

        def writes(pipe: Pipeline) -> None:
            pipe.hset(keys.job(job_id), "status", "queued")
            add_event(pipe, job_id, "status", {"status": "queued", "reason": reason}, ttl_s=_ttl(record))

        return writes

    await transition(redis, job_id, decide)


async def request_cancel(redis: Redis, job_id: str) -> JobRecord | None:
    """Cancel a job. A queued one is canceled here and removed from its queue, so it never
    starts; a running one is told through Redis (flag + pub/sub) and its worker stops it."""
    now = time.time()

    def decide(record: JobRecord) -> Writes | None:
        if record.is_final:
            return None

        def writes(pipe: Pipeline) -> None:
            if record.status == "queued":
                _write_final(pipe, record, "canceled", now)
                pipe.zrem(QUEUE_CLASS_LIMITS[record.queue].queue_name, job_id)
                pipe.delete(job_key_prefix + job_id)
            # Set after _write_final (which clears it): a worker that already took the job
            # from the queue sees the flag when it starts, and a running one hears the message.
            pipe.set(keys.job_cancel(job_id), b"1", ex=CANCEL_FLAG_TTL_S)
            pipe.publish(keys.cancel_channel(database_of(redis)), job_id)

        return writes

    await transition(redis, job_id, decide)
    return await get_job(redis, job_id)
