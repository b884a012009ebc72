"""Work due at a time, claimed with a lease: the poll of a provider's video, a webhook retry.

A schedule is one sorted set: each member (a job id, a delivery id) scored by when it is due
(Unix seconds, Redis's own clock, so hosts whose clocks disagree still agree on what is due).
`claim_due` takes up to `limit` due members in one script and pushes each one's score a
lease ahead: a process that dies holding a claim loses it when the lease runs out, and
another process claims the member again. The holder ends a claim by `reschedule` (the
next due time) or `remove`. Nothing holds a worker slot while it waits: a thousand videos in
flight are a thousand members of a set.
"""

from __future__ import annotations

from redis.asyncio import Redis

from queues.lua import LuaScript

# KEYS[1] schedule. ARGV: lease seconds, limit. Returns [member, due score, ...].
_CLAIM_DUE = LuaScript(
    """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1e6
local due = redis.call('ZRANGE', KEYS[1], '-inf', now_s, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]), 'WITHSCORES')
local until_s = now_s + tonumber(ARGV[1])
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', until_s, due[i])
end
return due
"""
)

# KEYS[1] schedule. ARGV: member, delay seconds (from Redis's clock), only_if_present (0/1).
_SCHEDULE = LuaScript(
    """
local now = redis.call('TIME')
local at = tonumber(now[1]) + tonumber(now[2]) / 1e6 + tonumber(ARGV[2])
if ARGV[3] == '1' then
  return redis.call('ZADD', KEYS[1], 'XX', 'CH', at, ARGV[1])
end
return redis.call('ZADD', KEYS[1], 'CH', at, ARGV[1])
"""
)


async def schedule(redis: Redis, key: str, member: str, *, delay_s: float = 0.0) -> None:
    """Make `member` due `delay_s` from now (adding it, or moving it if already there)."""
    await _SCHEDULE(redis, [key], [member, repr(max(0.0, delay_s)), "0"])


async def reschedule(redis: Redis, key: str, member: str, *, delay_s: float) -> bool:
    """Move a claimed member to its next due time; False if it was removed meanwhile (a
    cancel), so the holder knows to stop."""
    return bool(await _SCHEDULE(redis, [key], [member, repr(max(0.0, delay_s)), "1"]))


async def claim_due(redis: Redis, key: str, *, lease_s: float, limit: int) -> list[tuple[str, float]]:
    """Up to `limit` members due now, each leased for `lease_s`: (member, when it was due)."""
    raw = await _CLAIM_DUE(redis, [key], [repr(lease_s), str(limit)])
    return [(_text(raw[i]), float(raw[i + 1])) for i in range(0, len(raw), 2)]


async def remove(redis: Redis, key: str, member: str) -> bool:
    return bool(await redis.zrem(key, member))


async def pending(redis: Redis, key: str) -> int:
    return int(await redis.zcard(key))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
