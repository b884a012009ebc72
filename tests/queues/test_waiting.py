"""Cancels that must get through on Python 3.11 (queues/waiting.py says why)."""

from __future__ import annotations

import asyncio
import random
import sys

import pytest
import redis.asyncio

from queues.redis import connect
from queues.waiting import cancel_safe_wait_for, wait_set


async def test_a_cancel_that_comes_as_the_event_is_set_is_not_lost() -> None:
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


async def test_the_backport_is_the_wait_for_every_library_calls() -> None:
    # Installed by tests/conftest.py as by cli.main; redis-py and arq call `asyncio.wait_for`.
    if sys.version_info < (3, 12):
        assert asyncio.wait_for is cancel_safe_wait_for
    assert await asyncio.wait_for(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(1), 0.01)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.sleep(1), 0)


async def test_a_cancel_while_redis_py_sends_a_command_is_never_lost(redis_url: str) -> None:
    # redis-py 5.3.1 sends under `asyncio.wait_for` with a socket timeout: with 3.11's own,
    # ~40 % of these cancels were lost (the loop ran on). Fails by this name if that returns.
    assert redis.__version__ == "5.3.1", "re-check redis-py's send path (wait_for) for the new version"
    client = connect(redis_url)
    lost = 0

    async def commands() -> None:
        nonlocal lost
        while True:
            await client.zrangebyscore("mpc:test:nothing", 0, 1)
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                lost += 1
                return

    try:
        for _ in range(300):
            task = asyncio.create_task(commands())
            await asyncio.sleep(random.random() * 0.003)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await client.aclose()
    assert lost == 0
