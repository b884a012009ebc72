"""Waiting for an `asyncio.Event` with a timeout, without losing a cancel.

Python 3.11's `asyncio.wait_for` returns the awaited result when the waiting task is
cancelled just as the event is set, and the cancel is lost (CPython gh-86296, fixed in 3.12):
a worker told to stop at that moment went on running its loop until it was killed.
`asyncio.timeout` tells its own cancel from another's, so a stop always gets through.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passes; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
