from __future__ import annotations

import asyncio

import pytest

from queues.waiting import wait_set


async def test_a_cancel_that_comes_as_the_event_is_set_is_not_lost() -> None:
    # Python 3.11's `asyncio.wait_for` returns here instead of raising: a worker told to stop
    # at that moment kept running until it was killed.
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 10))
    await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_it_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert not await wait_set(event, 0.01)
    event.set()
    assert await wait_set(event, 10)
