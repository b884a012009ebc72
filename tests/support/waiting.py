"""Polling with a deadline: how a test waits for a state it cannot be told about."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Call `predicate` until it is true or `timeout` passes; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


async def async_wait_until(
    predicate: Callable[[], Awaitable[object]],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the polling, as wait_until's
    interval: float = 0.02,
) -> bool:
    """`wait_until` for a coroutine predicate, without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return bool(await predicate())
