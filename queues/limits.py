"""Per-key limits in Redis, shared by every gateway: requests and tokens per minute, and jobs
at once per queue class.

Requests and tokens are counted in fixed one-minute windows (`mpc:rate:{owner}:{rpm|tpm}:
{minute}`, expiring after two). A gateway does not ask Redis for every request: it takes a
*lease* of several requests of the window at once (`take_requests`: at most what is left)
and spends it locally, so the counter in Redis is an upper bound on what every gateway
admitted, and a key's limit is never exceeded across gateways; the price is that requests a
gateway leased but did not use are lost for the window (a lease is at most a fiftieth of the
limit: `lease_size`).

Tokens are added when a job ends, by the job's final-state script (`queues.store`), from the
usage its worker reported; a job is admitted while the window's count is under the limit,
so a window can end over the limit by the tokens of the jobs that were running.

Jobs at once: `mpc:running:{owner}:{class}` holds a key's jobs of that class, scored by the
time after which the job cannot be running any more. A submission reserves a place first
(`reserve_job`, with a placeholder member) and, in the job's own submit transaction, swaps
the placeholder for the job's id (`job_writes`); the final-state script removes the id. A
gateway that dies between the two leaves a placeholder that expires in `RESERVATION_S`.

Why not a library: `limits` (the maintained one, with async Redis storage) was evaluated.
Its `hit` and `get_window_stats` are a round trip each per limit; it cannot grant part of a
lease; it has no notion of jobs at once; and counting tokens inside our final-state script
would write to its private key layout. One script per operation here keeps each check one
round trip.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys
from queues.classes import MAX_QUEUED_S, QUEUE_CLASS_LIMITS
from queues.lua import LuaScript

WINDOW_S = 60
LEASE_PARTS = 50  # a lease is at most limit / LEASE_PARTS requests
RESERVATION_S = 30  # a reserved place not yet taken by a job is freed after this
# Record fields the final-state script reads to release a job's place and count its tokens.
RUNNING_FIELD = "limit_running"
TOKENS_FIELD = "limit_tokens"


def window_of(now: float) -> int:
    return int(now // WINDOW_S)


def window_reset_s(now: float) -> int:
    """Whole seconds until the current window ends, 1 to 60: `Retry-After`, `t=`."""
    return WINDOW_S - int(now) % WINDOW_S


def lease_size(limit: int) -> int:
    return max(1, limit // LEASE_PARTS)


# KEYS[1]: the window's request counter. ARGV: limit, wanted, TTL.
# Returns {granted, count after the grant}.
_TAKE = LuaScript(
    """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if grant <= 0 then return {0, used} end
used = redis.call('INCRBY', KEYS[1], grant)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {grant, used}
"""
)


async def take_requests(redis: Redis, owner: str, limit: int, wanted: int, now: float) -> tuple[int, int]:
    """Lease up to `wanted` requests of the current window; (granted, window count)."""
    key = keys.rate_window(owner, "rpm", window_of(now))
    granted, used = await _TAKE(redis, [key], [str(limit), str(wanted), str(2 * WINDOW_S)])
    return int(granted), int(used)


@dataclass(frozen=True, slots=True)
class JobAdmission:
    """What `reserve_job` found: refused (`over` names the limit) or a place reserved."""

    over: str | None  # "tpm" or "concurrency" when refused
    tokens_used: int  # in the current window
    running: int  # the key's jobs of the class, this one included when admitted
    placeholder: str


# KEYS[1]: the window's tokens counter, KEYS[2]: the key's running jobs of the class.
# ARGV: tokens limit (0: none), jobs limit (0: none), now, placeholder, its deadline, set TTL.
# Returns {0 admitted | 1 over tokens | 2 over jobs, tokens used, jobs running}.
_RESERVE = LuaScript(
    """
local tokens = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '0' and tokens >= tonumber(ARGV[1]) then return {1, tokens, 0} end
if ARGV[2] == '0' then return {0, tokens, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local running = redis.call('ZCARD', KEYS[2])
if running >= tonumber(ARGV[2]) then return {2, tokens, running} end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {0, tokens, running + 1}
"""
)


def _job_deadline_s(queue_class: str) -> int:
    """How long a job of the class can be queued and running, at most."""
    return MAX_QUEUED_S + int(QUEUE_CLASS_LIMITS[queue_class].job_timeout_s)


async def reserve_job(
    redis: Redis, owner: str, queue_class: str, *, tpm: int | None, concurrency: int | None, now: float
) -> JobAdmission:
    placeholder = "reserved:" + secrets.token_hex(8)
    result = await _RESERVE(
        redis,
        [keys.rate_window(owner, "tpm", window_of(now)), keys.running(owner, queue_class)],
        [
            str(tpm or 0),
            str(concurrency or 0),
            repr(now),
            placeholder,
            repr(now + RESERVATION_S),
            str(_job_deadline_s(queue_class)),
        ],
    )
    verdict, tokens, running = (int(v) for v in result)
    over = {0: None, 1: "tpm", 2: "concurrency"}[verdict]
    return JobAdmission(over=over, tokens_used=tokens, running=running, placeholder=placeholder)


def job_writes(
    pipe: Pipeline, job_id: str, owner: str, queue_class: str, placeholder: str | None, count_tokens: bool
) -> None:
    """In the job's submit transaction: the job takes its reserved place, and its record says
    what its end releases and where its tokens count."""
    if placeholder is not None:
        running = keys.running(owner, queue_class)
        pipe.zrem(running, placeholder)
        pipe.zadd(running, {job_id: time.time() + _job_deadline_s(queue_class)})
        pipe.hset(keys.job(job_id), RUNNING_FIELD, running)
    if count_tokens:
        pipe.hset(keys.job(job_id), TOKENS_FIELD, keys.rate_prefix(owner, "tpm"))


async def release_reservation(redis: Redis, owner: str, queue_class: str, placeholder: str) -> None:
    """A reserved place no job took (the submission failed, or found an earlier job)."""
    await redis.zrem(keys.running(owner, queue_class), placeholder)


# The final-state script's part (`queues.store`): `now` and `tokens` are its values; the
# record is KEYS[1]. The counters' names come from the record (written by `job_writes`).
FINAL_RELEASE_LUA = f"""
local function release_limits(now, tokens)
  local running = redis.call('HGET', KEYS[1], '{RUNNING_FIELD}')
  if running then redis.call('ZREM', running, redis.call('HGET', KEYS[1], 'id')) end
  local counter = redis.call('HGET', KEYS[1], '{TOKENS_FIELD}')
  if counter and tonumber(tokens) > 0 then
    local key = counter .. math.floor(tonumber(now) / {WINDOW_S})
    redis.call('INCRBY', key, tokens)
    redis.call('EXPIRE', key, {2 * WINDOW_S})
  end
end
"""
