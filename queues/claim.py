"""Taking the next job of a queue class and starting its attempt: one Lua script, one round trip.

arq takes a job in three steps, each a round trip on the path of every chat's first token:
claim it (in-progress key set only if absent, queue score checked), fetch it (GET the job,
INCR its try count), then MPC-API marks its record `processing`. Traced one job at a time
they cost 0.44 + 0.46 + 0.42 ms; under 16 concurrent streams each waits for the worker's
event loop as well. Here they are one script with the same keys, checks and writes, in the
same order: arq's key layout and semantics (in-progress mark, try count, queue score) are
unchanged, so the queue stays readable by arq's own tools.

Which job: not arq's (the oldest in the class's sorted set) but the fair one, chosen in the
same script by `queues.fair` (the next job of the owner with the lowest virtual time), and
leased there, so a dead worker's job goes back to its owner's turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from redis.asyncio import Redis

from queues import keys
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import MAX_EVENTS
from queues.fair import MAX_SKIPS, NEWCOMER_CREDIT, PICK_LUA, fair_keys
from queues.jobs import JobRecord, record_from_hash
from queues.lua import LuaScript
from queues.retention import Retention

# How long arq keeps a job's try count (arq.worker.Worker.run_job's figure).
RETRY_COUNT_TTL_S = 88400

# KEYS: the class's fair-share ready set, served set, clock (`queues.fair.fair_keys`), its
# leases, its arq queue (sorted set). ARGV: in-progress TTL (ms), now (ms), worker id, now (s),
# events cap, try count TTL (s), newcomer credit, max skips, then the prefixes of the owners'
# waiting lists, arq's in-progress mark, arq's job, arq's try count, MPC-API's job hash, the
# suffixes of a job's events and cancel flag, then (queue class, events TTL) pairs
# (`queues.retention.Retention.record_ttls`).
# Returns false when no job is waiting, else {job id, try, score, arq job or false, start}:
# `start` is false when the record is gone or final, else {cancel flag (0/1), the hash as
# HGETALL gives it}.
_CLAIM = LuaScript(
    PICK_LUA
    + """
local job_id
while true do
  job_id = fair_pick(KEYS[1], KEYS[2], KEYS[3], ARGV[9], KEYS[5], tonumber(ARGV[7]), tonumber(ARGV[8]))
  if not job_id then return false end
  -- Set only if absent, as arq's claim: a job some worker holds is that worker's to run
  -- (it is leased to it), so this list entry was a stale one.
  if redis.call('SET', ARGV[10] .. job_id, '1', 'NX', 'PX', ARGV[1]) then break end
end
redis.call('ZADD', KEYS[4], tonumber(ARGV[2]) + tonumber(ARGV[1]), job_id)
local score = redis.call('ZSCORE', KEYS[5], job_id)
local job_hash = ARGV[13] .. job_id
local job = redis.call('GET', ARGV[11] .. job_id)
local try = redis.call('INCR', ARGV[12] .. job_id)
redis.call('EXPIRE', ARGV[12] .. job_id, ARGV[6])
if not job then return {job_id, try, score, false, false} end
local status = redis.call('HGET', job_hash, 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then
  return {job_id, try, score, job, false}
end
local queue = redis.call('HGET', job_hash, 'queue')
local ttl = nil
for i = 16, #ARGV, 2 do
  if ARGV[i] == queue then ttl = ARGV[i + 1] end
end
if not ttl then return redis.error_reply('job has an unknown queue class') end
redis.call('HSET', job_hash, 'status', 'processing', 'attempts', try, 'worker', ARGV[3])
redis.call('HSETNX', job_hash, 'started_at', ARGV[4])
local events = job_hash .. ARGV[14]
local event = '{"status":"processing","attempt":' .. try .. '}'
redis.call('XADD', events, 'MAXLEN', '~', ARGV[5], '*', 'type', 'status', 'data', event)
redis.call('EXPIRE', events, ttl)
return {job_id, try, score, job, {redis.call('EXISTS', job_hash .. ARGV[15]), redis.call('HGETALL', job_hash)}}
"""
)


@dataclass(frozen=True, slots=True)
class Started:
    """A job whose attempt has begun: its record (now `processing`), its payload, and
    whether a cancel was requested while no worker could hear it (e.g. between two
    workers, after a crash): the runner ends such a job instead of running it."""

    record: JobRecord
    input_json: bytes
    params_json: bytes
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A job this worker now holds (its in-progress mark is set).

    `arq_job` is arq's serialized job, None when it expired in the queue; `started` is None
    when the job's record is gone or already final (nothing to run, only to clean up)."""

    job_id: str
    attempt: int  # arq's try count, 1 on the first run
    score: int  # the job's queue score (ms), arq's scheduled time
    arq_job: bytes | None
    started: Started | None


async def claim_next(
    redis: Redis, queue_class: str, *, in_progress_ms: int, worker_id: str, retention: Retention
) -> Claim | None:
    """Claim the class's next fair job and start its attempt; None when none is waiting."""
    now = time.time()
    now_ms = int(now * 1000)
    script_keys = [
        *fair_keys(queue_class),
        keys.fair_leases(queue_class),
        QUEUE_CLASS_LIMITS[queue_class].queue_name,
    ]
    args = [
        str(in_progress_ms),
        str(now_ms),
        worker_id,
        repr(now),
        str(MAX_EVENTS),
        str(RETRY_COUNT_TTL_S),
        str(NEWCOMER_CREDIT),
        str(MAX_SKIPS),
        keys.fair_waiting_prefix(queue_class),
        in_progress_key_prefix,
        job_key_prefix,
        retry_key_prefix,
        keys.JOB,
        keys.JOB_EVENTS_SUFFIX,
        keys.JOB_CANCEL_SUFFIX,
        *retention.record_ttls(),
    ]
    reply = await _CLAIM(redis, script_keys, args)
    if not reply:
        return None
    job_id, attempt, score, arq_job, start = cast(list[Any], reply)
    started = _started(start, now) if start else None
    return Claim(_text(job_id), int(attempt), int(float(score)), arq_job or None, started)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _started(start: list[Any], now: float) -> Started | None:
    cancel_flag, flat = start
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    record = record_from_hash(raw, now=now)
    if record is None:
        return None
    return Started(record, raw.get(b"input", b"null"), raw.get(b"params", b"{}"), bool(cancel_flag))
