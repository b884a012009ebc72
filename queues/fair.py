"""Fair share inside a queue class: one owner (API key) flooding a class cannot starve the others.

arq's queue of a class is one sorted set read in score order: first in, first out, so the
1,001st job waits for the 1,000 before it whoever sent them. Here each owner has its own list
of waiting jobs, and a claim takes the next job of the owner with the lowest *virtual time*
(start-time fair queueing, one unit per job started):

- `mpc:fair:{class}:ready` holds the owners with jobs waiting, scored by virtual time. A claim
  (`queues.claim`) takes the lowest, pops that owner's oldest job, and moves the owner one
  unit on (or out of the set, when its list is empty). Owners that keep jobs waiting
  therefore take turns: with two of them, every other start is each one's.
- An owner that starts waiting is placed at `max(its remembered time, clock - credit)`
  (`clock` alone when no other owner is waiting): the class's clock is the highest virtual
  time served, so an owner cannot bank the time it was idle beyond `NEWCOMER_CREDIT` jobs
  (CFS's sleeper credit). A quiet key that sends a few jobs into a flood starts them ahead
  of it, as it would on an idle queue; one that sends more than the credit takes turns
  after that, and one that comes back soon gets only what is left of its credit.
  Remembered times (`...:served`) at or below `clock - credit` mean nothing more than
  absence and are pruned as the clock moves.
- Submission only appends (RPUSH) and marks the owner ready with score `-inf` (ZADD NX): no
  read, so it stays a plain write in the submit transaction. The claim script places such
  owners the first time it sees them.

The arq sorted set is still written and cleared exactly as arq does (it is what arq's `Job`,
the queue gauges and a cancel read); the lists only decide the order of starts.

A claim also leases the job (`...:leases`, renewed by the worker's heartbeat with its
in-progress mark). A lease that runs out while the mark is gone and the job is still in arq's
queue is a job whose worker died: `recover_orphans` puts it back at the head of its owner's
list, so a re-run takes its owner's turn rather than queueing behind every other owner.
A worker that stops mid-job gives the job back the same way at once (`give_back`).
"""

from __future__ import annotations

from collections.abc import Iterable

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys
from queues.classes import QUEUE_CLASS_LIMITS
from queues.lua import LuaScript

# Jobs an owner that starts waiting may start before it takes turns with owners already
# waiting. One media worker's slots: a few jobs from a quiet key run as on an idle queue.
NEWCOMER_CREDIT = 16
# Stale entries (jobs that left arq's queue while listed: a cancel removes its own entry, so
# these are rare) one claim skips before it answers "none", so one call stays short.
MAX_SKIPS = 100

# The Lua the claim script starts with (`queues.claim`): `fair_pick` pops the next job to start
# and charges its owner. Its arguments are key names and numbers; the per-owner lists and the
# job's keys are built from prefixes in the script, so it runs on one Redis (or Sentinel
# pair), as every MPC-API script does, not on Redis Cluster.
# Returns the job id, or nil when no owner has a job waiting (or after MAX_SKIPS stale ones).
PICK_LUA = """
local function fair_pick(ready, served, clock_key, waiting_prefix, queue, credit, max_skips)
  local skips = 0
  while true do
    local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
    if #head == 0 then return nil end
    local owner = head[1]
    local clock = tonumber(redis.call('GET', clock_key) or '0')
    if head[2] == '-inf' then
      -- An owner that starts waiting: no credit for idle time beyond `credit` jobs, and
      -- none at all when no other owner waits (there is nobody to be ahead of, and an
      -- owner flooding an idle class must not keep credit for when others arrive).
      local floor = clock
      if redis.call('ZCARD', ready) > 1 then floor = clock - credit end
      local vtime = tonumber(redis.call('ZSCORE', served, owner) or floor)
      if vtime < floor then vtime = floor end
      redis.call('ZADD', ready, vtime, owner)
      redis.call('ZREM', served, owner)
    else
      local vtime = tonumber(head[2])
      local waiting = waiting_prefix .. owner
      local job_id = redis.call('LPOP', waiting)
      -- No check of the score against the time, as arq's claim makes: MPC-API never defers
      -- through arq (later work is `queues.schedule`'s), so a score is a submit time, and a
      -- claim whose clock was read before a submit ran must not take that job for deferred.
      local score = job_id and redis.call('ZSCORE', queue, job_id)
      local left = redis.call('LLEN', waiting)
      if score then
        vtime = vtime + 1
        if vtime - 1 > clock then redis.call('SET', clock_key, tostring(vtime - 1)) end
      end
      if left > 0 then
        redis.call('ZADD', ready, vtime, owner)
      else
        redis.call('ZREM', ready, owner)
        redis.call('ZADD', served, vtime, owner)
        redis.call('ZREMRANGEBYSCORE', served, '-inf', math.max(clock, vtime - 1) - credit)
      end
      if score then return job_id end
      skips = skips + 1
      if skips >= max_skips then return nil end
    end
  end
end
"""


def fair_keys(queue_class: str) -> list[str]:
    """The keys `fair_pick` takes first, in its order: ready, served, clock."""
    return [keys.fair_ready(queue_class), keys.fair_served(queue_class), keys.fair_clock(queue_class)]


def enqueue(pipe: Pipeline, queue_class: str, owner: str, job_id: str) -> None:
    """Submission's part: the job at the end of its owner's list, the owner ready. Two writes,
    no read, so they sit in the submit transaction beside arq's ZADD."""
    pipe.rpush(keys.fair_waiting(queue_class, owner), job_id)
    pipe.zadd(keys.fair_ready(queue_class), {owner: float("-inf")}, nx=True)


def renew_leases(pipe: Pipeline, queue_class: str, job_ids: Iterable[str], until_ms: int) -> None:
    """Heartbeat's part: a live worker's jobs keep their leases (only while leased: XX)."""
    mapping = {job_id: until_ms for job_id in job_ids}
    if mapping:
        pipe.zadd(keys.fair_leases(queue_class), mapping, xx=True)


# KEYS: leases, ready, arq queue. ARGV: now (ms), limit, lease (ms), in-progress prefix, job
# hash prefix, waiting-list prefix. Returns how many jobs went back to their owners' lists.
_RECOVER = LuaScript(
    """
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local back = 0
for _, job_id in ipairs(expired) do
  local ttl = redis.call('PTTL', ARGV[4] .. job_id)
  if ttl ~= -2 then
    -- Still held (a heartbeat is late): the lease follows the mark.
    redis.call('ZADD', KEYS[1], now + math.max(ttl, tonumber(ARGV[3])), job_id)
  else
    redis.call('ZREM', KEYS[1], job_id)
    if redis.call('ZSCORE', KEYS[3], job_id) then
      local owner = redis.call('HGET', ARGV[5] .. job_id, 'owner') or ''
      redis.call('LPUSH', ARGV[6] .. owner, job_id)
      redis.call('ZADD', KEYS[2], 'NX', '-inf', owner)
      back = back + 1
    end
  end
end
return back
"""
)


async def recover_orphans(redis: Redis, queue_class: str, *, now_ms: int, lease_ms: int, limit: int = 100) -> int:
    """Put the jobs of dead workers back at the head of their owners' lists; how many.
    A lease whose job ended (no longer in arq's queue) is only dropped: finishing a job
    does not touch its lease, which is cheaper left to run out here."""
    args = [
        str(now_ms),
        str(limit),
        str(lease_ms),
        in_progress_key_prefix,
        keys.JOB,
        keys.fair_waiting_prefix(queue_class),
    ]
    lists = [keys.fair_leases(queue_class), keys.fair_ready(queue_class), QUEUE_CLASS_LIMITS[queue_class].queue_name]
    return int(await _RECOVER(redis, lists, args))


async def give_back(redis: Redis, queue_class: str, job_id: str, owner: str, *, wake_channel: str) -> None:
    """A stopping worker's job, back at the head of its owner's list for another worker
    (arq's `finish_job(finish=False)` would only drop the in-progress mark)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(in_progress_key_prefix + job_id)
        pipe.zrem(keys.fair_leases(queue_class), job_id)
        pipe.lpush(keys.fair_waiting(queue_class, owner), job_id)
        pipe.zadd(keys.fair_ready(queue_class), {owner: float("-inf")}, nx=True)
        pipe.publish(wake_channel, job_id)
        await pipe.execute()


# KEYS: arq queue, ready, adopted flag. ARGV: in-progress prefix, job hash prefix, waiting
# prefix. Returns how many jobs were listed, -1 when another worker did it before.
_ADOPT = LuaScript(
    """
if not redis.call('SET', KEYS[3], '1', 'NX') then return -1 end
local adopted = 0
for _, job_id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. job_id) == 0 then
    local owner = redis.call('HGET', ARGV[2] .. job_id, 'owner') or ''
    redis.call('RPUSH', ARGV[3] .. owner, job_id)
    redis.call('ZADD', KEYS[2], 'NX', '-inf', owner)
    adopted = adopted + 1
  end
end
return adopted
"""
)


async def adopt_queued(redis: Redis, queue_class: str) -> int:
    """Once per class and database: list the jobs that wait in arq's queue but in no owner's
    list (queued by a version without fair share, or given back by its stopping workers), in
    queue order. A job listed twice is harmless: its second entry is skipped, as the job is
    then held or gone. One pass over the queue, in one script; -1 when done before."""
    args = [in_progress_key_prefix, keys.JOB, keys.fair_waiting_prefix(queue_class)]
    lists = [QUEUE_CLASS_LIMITS[queue_class].queue_name, keys.fair_ready(queue_class), keys.fair_adopted(queue_class)]
    return int(await _ADOPT(redis, lists, args))
