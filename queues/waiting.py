"""Waiting with a timeout without losing a cancel, on Python 3.11.

Python 3.11's `asyncio.wait_for` returns the awaited result when the waiting task is
cancelled just as the awaited thing completes, and the cancel is lost (CPython gh-86296,
fixed in 3.12 by rewriting `wait_for` on `asyncio.timeout`). redis-py 5 sends every command
under `wait_for` when a socket timeout is set, as ours are, so a cancel that came while a
command was being sent was lost about four times in ten (measured: `tests/queues/
test_waiting.py`): a stopping worker ran on until it was killed, and so could a canceled job.
arq runs every job under `wait_for` too. `install_cancel_safe_wait_for` puts 3.12's `wait_for`
in its place, once, in every process this project starts (`cli.main`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passes; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


async def cancel_safe_wait_for(aw: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109 - wait_for's own
    """`asyncio.wait_for` as Python 3.12 has it: a cancel of the caller always gets through."""
    if timeout is not None and timeout <= 0:
        future = asyncio.ensure_future(aw)
        if future.done():
            return future.result()
        future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
        try:
            return future.result()
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
    async with asyncio.timeout(timeout):
        return await aw


def install_cancel_safe_wait_for() -> None:
    """Replace `asyncio.wait_for` with `cancel_safe_wait_for` below Python 3.12 (libraries
    look it up on the module at each call, as `asyncio.wait_for`)."""
    if sys.version_info < (3, 12):
        module: Any = asyncio
        module.wait_for = cancel_safe_wait_for
        asyncio.tasks.wait_for = cancel_safe_wait_for  # type: ignore[assignment]
