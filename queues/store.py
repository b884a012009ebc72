"""Job state transitions, each one atomic: a WATCH/MULTI on the job's hash, or a Lua script.

A final state (`succeeded`, `failed`, `canceled`) is written at most once: every transition
first reads the record's status and gives up if another writer got there first. The final
writes themselves are one Lua function, shared by `finish` and `request_cancel`, so a job's
end is one round trip, and its webhook delivery (when its webhook asked for that end) is
scheduled in the same script. The start of an attempt, on the path of every chat's first token, is
part of taking the job from its queue: one Lua script, in `queues.claim`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from arq.constants import job_key_prefix
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys, webhooks
from queues.events import MAX_EVENTS, EventType, add_event_keeping_ttl, add_event_setting_ttl
from queues.jobs import JobError, JobRecord, encode_json, record_from_hash
from queues.limits import FINAL_RELEASE_LUA
from queues.lua import LuaScript
from queues.redis import database_of
from queues.retention import Retention

Writes = Callable[[Pipeline], None]
Decision = Callable[[JobRecord], Writes | None]

# How long a job's cancel flag lives: longer than any job may run.
CANCEL_FLAG_TTL_S = 7200


async def get_job(redis: Redis, job_id: str, *, now: float | None = None) -> JobRecord | None:
    raw = await redis.hgetall(keys.job(job_id))  # type: ignore[misc]
    return record_from_hash(raw, now=time.time() if now is None else now)


async def transition(redis: Redis, job_id: str, decide: Decision) -> JobRecord | None:
    """Read the record under WATCH, let `decide` queue writes (or return None), commit;
    redis-py's `transaction` runs it again if the record changed meanwhile.

    Returns the record `decide` saw when its writes were committed, else None.
    """
    key = keys.job(job_id)

    async def attempt(pipe: Pipeline) -> JobRecord | None:
        raw = await pipe.hgetall(key)  # type: ignore[misc]
        record = record_from_hash(raw, now=time.time())
        writes = None if record is None else decide(record)
        if writes is None:
            return None
        pipe.multi()  # type: ignore[no-untyped-call]
        writes(pipe)
        return record

    return cast(JobRecord | None, await redis.transaction(attempt, key, value_from_callable=True))


async def record_event(
    redis: Redis,
    job_id: str,
    event_type: EventType,
    data: Any,
    *,
    retention: Retention,
    progress: float | None = None,
) -> bool:
    """Add a `progress`, `output` or `log` event while the job is not final."""

    def decide(record: JobRecord) -> Writes | None:
        if record.is_final:
            return None

        def writes(pipe: Pipeline) -> None:
            if progress is not None:
                pipe.hset(keys.job(job_id), "progress", repr(progress))
                if record.webhook is not None and "job.progress" in record.webhook.events:
                    webhooks.schedule_progress(pipe, record, time.time(), database_of(redis))
            add_event_setting_ttl(pipe, job_id, event_type, data, ttl_s=retention.record_s(record.queue))

        return writes

    return await transition(redis, job_id, decide) is not None


async def append_outputs(redis: Redis, job_id: str, chunks: list[Any]) -> None:
    """`output` events without the final-state check of `record_event`: streamed tokens are
    the hot path, and the job's own runner is their only writer. No EXPIRE: `claim_next`
    created the stream with the job's TTL, and XADD keeps it. Several chunks go in one
    MULTI, so a reader blocked on the stream wakes once and gets them all."""
    if len(chunks) == 1:
        await add_event_keeping_ttl(redis, job_id, "output", chunks[0])
        return
    async with redis.pipeline(transaction=True) as pipe:
        for chunk in chunks:
            add_event_keeping_ttl(pipe, job_id, "output", chunk)
        await pipe.execute()


# A final state's writes, shared by `finish` and `request_cancel` (Lua: one round trip,
# atomic, and no retry on a race, on the path of every answer). KEYS[1] the job's
# hash, KEYS[2] its events, KEYS[3] its cancel flag, KEYS[4..6] the job's end delivery, the
# job's list of deliveries and the delivery schedule (`queues/webhooks.py`); the queue
# classes come as ARGV triples (class, record TTL, expires_at) from `base`
# (`queues.retention.Retention.final_ttls`).
_FINAL_WRITES = (
    FINAL_RELEASE_LUA
    + """
local FINAL = {succeeded = true, failed = true, canceled = true}

-- The webhook's delivery of the job's end, in the same script as the end itself, so a job
-- whose webhook asked for this event cannot end without one. The record as it ended is
-- copied in (fields 'r.*'): the event's data, whatever becomes of the job later.
local function schedule_webhook(status, now, delivery_id, delivery_ttl, wake_channel)
  local url = redis.call('HGET', KEYS[1], 'webhook_url')
  if not url then return end
  local event = 'job.' .. status
  local events = ' ' .. (redis.call('HGET', KEYS[1], 'webhook_events') or '') .. ' '
  if not string.find(events, ' ' .. event .. ' ', 1, true) then return end
  local fields = {'id', delivery_id, 'job_id', redis.call('HGET', KEYS[1], 'id'),
    'owner', redis.call('HGET', KEYS[1], 'owner') or '', 'type', event, 'url', url,
    'at', now, 'state', 'pending', 'attempts', '0'}
  local record = redis.call('HGETALL', KEYS[1])
  for i = 1, #record, 2 do
    table.insert(fields, 'r.' .. record[i]); table.insert(fields, record[i + 1])
  end
  redis.call('HSET', KEYS[4], unpack(fields))
  redis.call('EXPIRE', KEYS[4], delivery_ttl)
  redis.call('RPUSH', KEYS[5], delivery_id)
  redis.call('EXPIRE', KEYS[5], delivery_ttl)
  -- Due now by Redis's clock (the schedule's): first come, first served, behind nothing but
  -- what came due before it. (Scored 0, ties were served by id, at random: in a backlog a
  -- delivery could wait for all of it.)
  local time = redis.call('TIME')
  redis.call('ZADD', KEYS[6], tonumber(time[1]) + tonumber(time[2]) / 1e6, delivery_id)
  -- Delivery loops wait on this rather than polling the schedule for what is due at once.
  redis.call('PUBLISH', wake_channel, delivery_id)
end

local function class_of(base)
  local queue = redis.call('HGET', KEYS[1], 'queue')
  for i = base, #ARGV, 3 do
    if ARGV[i] == queue then return (i - base) / 3 + 1, ARGV[i + 1], ARGV[i + 2] end
  end
  return nil
end

local function write_final(now, status, output, err, event_type, event_data, cap, ttl, expires_at,
                           hook_id, hook_ttl, hook_wake, tokens)
  local fields = {'status', status, 'finished_at', now, 'expires_at', expires_at}
  if status == 'succeeded' then
    table.insert(fields, 'progress'); table.insert(fields, '1.0')
  end
  if output ~= '' then  -- a failed plan keeps its steps' partial outputs
    table.insert(fields, 'output'); table.insert(fields, output)
  end
  if err ~= '' then
    table.insert(fields, 'error'); table.insert(fields, err)
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('HDEL', KEYS[1], 'input')  -- a finished job keeps its output, not its input
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('DEL', KEYS[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', cap, '*', 'type', event_type, 'data', event_data)
  redis.call('EXPIRE', KEYS[2], ttl)
  -- An Idempotency-Key outlives neither its 24 h nor the job it names (a short retention).
  local idempotency = redis.call('HGET', KEYS[1], 'idempotency')
  if idempotency then redis.call('EXPIRE', idempotency, ttl, 'LT') end
  schedule_webhook(status, now, hook_id, hook_ttl, hook_wake)
  release_limits(now, tokens)  -- the key's place among its jobs at once, and its tokens
end
"""
)

# ARGV: status, now, output JSON, error JSON or '', event type, event data, events cap,
# webhook delivery id, delivery TTL, webhook wake channel, tokens used (for the key's tokens
# per minute), then the class triples. Returns 1 when written, 0 when the job is gone or
# already final.
_FINISH = LuaScript(
    _FINAL_WRITES
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or FINAL[status] then return 0 end
local _, ttl, expires_at = class_of(12)
if not ttl then return redis.error_reply('job has an unknown queue class') end
write_final(ARGV[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ttl, expires_at, ARGV[8], ARGV[9], ARGV[10],
            ARGV[11])
return 1
"""
)

# KEYS 7: the arq job; 8…: the queue classes' arq queues, in the order of the triples.
# ARGV: now, the `done` event's data, events cap, cancel flag TTL, cancel channel, job id,
# webhook delivery id, delivery TTL, webhook wake channel, the fair-share prefix and
# waiting-list suffix (the owner's list is `prefix .. class .. suffix .. owner`,
# `queues.keys.fair_waiting`), then the class triples. Returns 1 when the cancel was
# requested, 0 when gone or final.
_CANCEL = LuaScript(
    _FINAL_WRITES
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or FINAL[status] then return 0 end
if status == 'queued' then
  local n, ttl, expires_at = class_of(12)
  if not ttl then return redis.error_reply('job has an unknown queue class') end
  local owner = redis.call('HGET', KEYS[1], 'owner') or ''
  local waiting = ARGV[10] .. redis.call('HGET', KEYS[1], 'queue') .. ARGV[11] .. owner
  write_final(ARGV[1], 'canceled', '', '', 'done', ARGV[2], ARGV[3], ttl, expires_at, ARGV[7], ARGV[8], ARGV[9],
              '0')
  redis.call('ZREM', KEYS[7 + n], ARGV[6])
  redis.call('DEL', KEYS[7])
  -- Out of its owner's fair-share list too, so no claim has to skip it (one O(list) scan).
  redis.call('LREM', waiting, 1, ARGV[6])
end
-- Set after write_final (which clears it): a worker that already took the job from the
-- queue sees the flag when it starts, and a running one hears the message.
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""
)


def _final_keys(job_id: str) -> list[str]:
    return [
        keys.job(job_id),
        keys.job_events(job_id),
        keys.job_cancel(job_id),
        keys.webhook_delivery(webhooks.end_delivery_id(job_id)),
        keys.job_webhooks(job_id),
        keys.WEBHOOK_DELIVERIES,
    ]


def _webhook_args(redis: Redis, job_id: str) -> list[str]:
    return [
        webhooks.end_delivery_id(job_id),
        str(webhooks.DELIVERY_TTL_S),
        keys.webhook_wake_channel(database_of(redis)),
    ]


async def finish(
    redis: Redis,
    job_id: str,
    *,
    output: Any = None,
    error: JobError | None = None,
    canceled: bool = False,
    retention: Retention,
) -> bool:
    """Write the job's one final state; False if it was already final (or is gone). A failed
    job may keep an `output` too (a plan's finished steps)."""
    now = time.time()
    status = "canceled" if canceled else ("failed" if error is not None else "succeeded")
    if status == "failed":
        event_type, event_data = "error", encode_json({"status": status, "error": error}).decode()
    else:
        event_type, event_data = "done", encode_json({"status": status}).decode()
    args = [
        status,
        repr(now),
        encode_json(output).decode() if status == "succeeded" or output is not None else "",
        encode_json(error).decode() if error is not None else "",
        event_type,
        event_data,
        str(MAX_EVENTS),
        *_webhook_args(redis, job_id),
        str(usage_tokens(output) if status == "succeeded" else 0),
        *retention.final_ttls(now),
    ]
    return bool(await _FINISH(redis, _final_keys(job_id), args))


def usage_tokens(output: Any) -> int:
    """The tokens a job's output says its model used (`usage`, as OpenAI reports it)."""
    usage = output.get("usage") if isinstance(output, dict) else None
    if not isinstance(usage, dict):
        return 0
    total = usage.get("total_tokens")
    if not isinstance(total, int):
        parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        total = sum(part for part in parts if isinstance(part, int))
    return max(0, total)


async def requeue(redis: Redis, job_id: str, reason: str, *, retention: Retention) -> None:
    """processing → queued, when a stopping worker hands the job back to the queue."""

    def decide(record: JobRecord) -> Writes | None:
        if record.status != "processing":
            return None

        def writes(pipe: Pipeline) -> None:
            pipe.hset(keys.job(job_id), "status", "queued")
            event = {"status": "queued", "reason": reason}
            add_event_setting_ttl(pipe, job_id, "status", event, ttl_s=retention.record_s(record.queue))

        return writes

    await transition(redis, job_id, decide)


async def request_cancel(redis: Redis, job_id: str, *, retention: Retention) -> JobRecord | None:
    """Cancel a job. A queued one is canceled here and removed from its queue, so it never
    starts; a running one is told through Redis (flag + pub/sub) and its worker stops it."""
    now = time.time()
    queues = [keys.QUEUE_NAMES[name] for name in retention.result_ttl_s]  # in the order of the triples
    args = [
        repr(now),
        encode_json({"status": "canceled"}).decode(),
        str(MAX_EVENTS),
        str(CANCEL_FLAG_TTL_S),
        keys.cancel_channel(database_of(redis)),
        job_id,
        *_webhook_args(redis, job_id),
        keys.FAIR,
        keys.FAIR_WAITING_SUFFIX,
        *retention.final_ttls(now),
    ]
    await _CANCEL(redis, [*_final_keys(job_id), job_key_prefix + job_id, *queues], args)
    return await get_job(redis, job_id)
