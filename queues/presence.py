"""Which workers are live, per queue class, at a cost that does not grow with the database.

Every heartbeat, a worker scores its id in its queue class's sorted set with the time its
heartbeat runs out, and drops the ids whose time has run out; a reader counts the scores
still ahead (ZCOUNT, logarithmic in the number of workers whatever else the database holds).
A worker that stops cleanly removes its id; one that dies drops out when its time runs out,
as a key with a TTL would. Scores are Unix times from the worker's clock read against the
reader's: the hosts' clocks must agree to within a few seconds, as job records' times do.

The worker's description (pid, running jobs, tasks…) lives in a key of its own with the same
TTL, for operators; nothing here reads it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys


def announce(pipe: Pipeline, queue_class: str, worker_id: str, info: bytes, *, ttl_s: int, now: float) -> None:
    """Queue on `pipe` the writes of one heartbeat: live until `now + ttl_s`."""
    live = keys.live_workers(queue_class)
    pipe.set(keys.worker_info(queue_class, worker_id), info, ex=ttl_s)
    pipe.zremrangebyscore(live, "-inf", now)
    pipe.zadd(live, {worker_id: now + ttl_s})
    pipe.expire(live, ttl_s)  # a class whose workers all stopped leaves nothing behind


async def withdraw(redis: Redis, queue_class: str, worker_id: str) -> None:
    """A worker stopping cleanly: no longer counted, at once."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keys.worker_info(queue_class, worker_id))
        pipe.zrem(keys.live_workers(queue_class), worker_id)
        await pipe.execute()


def count_live(pipe: Pipeline, queue_class: str, *, now: float) -> None:
    """Queue on `pipe` a ZCOUNT of the class's workers live at `now`; its reply is the count."""
    pipe.zcount(keys.live_workers(queue_class), f"({now!r}", "+inf")


async def live_counts(redis: Redis, queue_classes: Iterable[str], *, now: float | None = None) -> dict[str, int]:
    """Live workers per queue class, in one round trip."""
    now = time.time() if now is None else now
    names = list(queue_classes)
    async with redis.pipeline(transaction=False) as pipe:
        for queue_class in names:
            count_live(pipe, queue_class, now=now)
        replies = await pipe.execute()
    return {queue_class: int(n) for queue_class, n in zip(names, replies, strict=True)}


async def live_workers(redis: Redis, queue_class: str, *, now: float | None = None) -> list[str]:
    """The ids of the class's live workers."""
    now = time.time() if now is None else now
    ids = await redis.zrangebyscore(keys.live_workers(queue_class), f"({now!r}", "+inf")
    return [worker_id.decode() for worker_id in ids]
