"""Job state transitions, each one atomic (WATCH/MULTI on the job's hash, or one Lua script).

A final state (`succeeded`, `failed`, `canceled`) is written at most once: every transition
first reads the record under WATCH and gives up if another writer got there first. The start
of an attempt, which is on the path of every chat's first token, is one Lua script instead
(one round trip for three); the embedded development Redis runs it too (fakeredis with lupa).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from queues import keys
from queues.classes import EXPIRED_GRACE_S, QUEUE_CLASS_LIMITS
from queues.events import MAX_EVENTS, EventType, add_event, append_event
from queues.jobs import JobError, JobRecord, encode_json, record_from_hash
from queues.lua import LuaScript
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
    return _ttl_of(record.queue)


def _ttl_of(queue_class: str) -> int:
    """How long a job's record and events outlive its start (then its finish)."""
    return QUEUE_CLASS_LIMITS[queue_class].result_ttl_s + EXPIRED_GRACE_S


# queued|processing → processing, as `transition` would do it. KEYS: the job's hash, its
# event stream, its cancel flag. ARGV: attempt, worker id, now, the status event's data, the
# stream's cap, then (queue class, events TTL) pairs. Returns false when the job is gone or
# final, else {cancel flag set (0/1), the hash as HGETALL gives it}.
_START = LuaScript(
    """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then
  return false
end
local queue = redis.call('HGET', KEYS[1], 'queue')
local ttl = nil
for i = 6, #ARGV, 2 do
  if ARGV[i] == queue then ttl = ARGV[i + 1] end
end
if not ttl then return redis.error_reply('job has an unknown queue class') end
redis.call('HSET', KEYS[1], 'status', 'processing', 'attempts', ARGV[1], 'worker', ARGV[2])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'status', 'data', ARGV[4])
redis.call('EXPIRE', KEYS[2], ttl)
return {redis.call('EXISTS', KEYS[3]), redis.call('HGETALL', KEYS[1])}
"""
)
_EVENTS_TTL_BY_QUEUE = [str(v) for name in QUEUE_CLASS_LIMITS for v in (name, _ttl_of(name))]


@dataclass(frozen=True, slots=True)
class Started:
    """A job whose attempt has begun: its record (now `processing`), its payload, and
    whether a cancel was requested while no worker could hear it (e.g. between two
    workers, after a crash): the runner ends such a job instead of running it."""

    record: JobRecord
    input_json: bytes
    params_json: bytes
    cancel_requested: bool


async def start_attempt(redis: Redis, job_id: str, *, attempt: int, worker_id: str) -> Started | None:
    """queued|processing → processing; None when the job is gone or already final."""
    now = time.time()
    status_event = msgspec.json.encode({"status": "processing", "attempt": attempt}).decode()
    job_keys = [keys.job(job_id), keys.job_events(job_id), keys.job_cancel(job_id)]
    args = [str(attempt), worker_id, repr(now), status_event, str(MAX_EVENTS), *_EVENTS_TTL_BY_QUEUE]
    reply = await _START(redis, job_keys, args)
    if not reply:
        return None
    cancel_flag, flat = cast(list[Any], reply)
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    record = record_from_hash(raw, now=now)
    if record is None:
        return None
    return Started(record, raw.get(b"input", b"null"), raw.get(b"params", b"{}"), bool(cancel_flag))


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
    the hot path, and the job's own runner is their only writer. No EXPIRE: `start_attempt`
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
