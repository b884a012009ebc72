"""Keeping the gateway's local copy of some Redis state fresh, in a background task.

Requests read the copy and never wait on Redis for it (provider health for every selection,
queue gauges for every scrape). When Redis fails, the copy keeps its last values and the
next round tries again.

Stopping sets a flag as well as cancelling the task: redis-py's asyncio client can swallow a
cancel that lands mid-command (redis/redis-py#2028), which would otherwise leave the loop
running and the gateway's shutdown waiting on it for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.exceptions import RedisError

from queues.waiting import wait_set

log = logging.getLogger("mpc.refresh")


@contextlib.asynccontextmanager
async def refreshing(refresh: Callable[[], Awaitable[None]], *, every_s: float, what: str) -> AsyncIterator[None]:
    """Run `refresh` at once, then every `every_s` seconds, until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(_every(refresh, every_s, what, stop), name=f"mpc-refresh-{what.replace(' ', '-')}")
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _every(refresh: Callable[[], Awaitable[None]], every_s: float, what: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await refresh()
        except (RedisError, OSError) as exc:
            if stop.is_set():
                return
            log.warning("%s failed (%s); keeping the last values", what, type(exc).__name__)
        await wait_set(stop, every_s)
