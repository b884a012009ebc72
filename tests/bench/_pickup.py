"""Waiting on a worker and its jobs through Redis, for `job_pickup` and `_pickup_trace`."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from queues.events import read_events
from tests.bench._common import Child


async def wait_ready(redis: Redis, proc: Child, pattern: str, marker: str, limit_s: float = 30) -> None:
    """Wait until a key matching `pattern` holds `marker` (the worker's announcement)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        async for key in redis.scan_iter(match=pattern):
            if marker.encode() in key:
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
