"""Waiting on a worker and its jobs through Redis, for `job_pickup` and `_pickup_trace`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from queues import presence
from queues.events import read_events
from tests.bench._common import Child


async def announced(redis: Redis, worker: Child) -> bool:
    """Has our worker process announced itself on the interactive queue class?"""
    return any(f"-{worker.pid}-" in worker_id for worker_id in await presence.live_workers(redis, "interactive"))


async def wait_ready(proc: Child, ready: Callable[[], Awaitable[Any]], limit_s: float = 30) -> None:
    """Wait until `ready()` is true of the process (its announcement), or fail with its stderr."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await ready():
            return
        proc.check_alive()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{' '.join(proc.args)} did not become ready:\n{proc.stderr()}")


async def blpop_time(blocking: Redis, key: str, timeout_s: int = 10) -> float:
    """Wait for the handler's start time, pushed onto `key`."""
    reply = await blocking.blpop([key], timeout=timeout_s)  # type: ignore[misc]
    if reply is None:
        raise RuntimeError(f"no job start recorded at {key} within {timeout_s} s")
    return float(reply[1])


async def wait_final(blocking: Redis, job_id: str, timeout_s: float = 10) -> None:
    """Wait until the job's event stream has its terminal event."""
    after = "0-0"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = await read_events(blocking, job_id, after, block_ms=int(timeout_s * 1000))
        if events:
            after = events[-1].id
            if any(e.is_terminal for e in events):
                return
    raise RuntimeError(f"job {job_id} did not finish within {timeout_s} s")
