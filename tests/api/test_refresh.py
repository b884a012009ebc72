"""`api.refresh.refreshing`: the background loop behind the gateway's local copies of Redis state."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api.refresh import refreshing


async def test_it_refreshes_at_once_and_then_again_and_again() -> None:
    calls = 0
    third = asyncio.Event()

    async def refresh() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()

    async with refreshing(refresh, every_s=0.01, what="test copy"):
        await asyncio.wait_for(third.wait(), timeout=5)


async def test_a_redis_failure_is_logged_and_the_next_round_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    outcomes: list[Exception | None] = [RedisConnectionError("down"), OSError("reset"), None]
    recovered = asyncio.Event()

    async def refresh() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        recovered.set()

    with caplog.at_level(logging.WARNING, logger="mpc.refresh"):
        async with refreshing(refresh, every_s=0.01, what="test copy"):
            await asyncio.wait_for(recovered.wait(), timeout=5)
    assert [r.getMessage() for r in caplog.records] == [
        "test copy failed (ConnectionError); keeping the last values",
        "test copy failed (OSError); keeping the last values",
    ]


async def test_leaving_the_block_stops_a_refresh_in_progress() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def refresh() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a Redis call that never answers
        finally:
            stopped.set()

    async with refreshing(refresh, every_s=1.0, what="test copy"):
        await asyncio.wait_for(started.wait(), timeout=5)
    assert stopped.is_set()


async def test_leaving_the_block_stops_a_refresh_that_swallows_its_cancel() -> None:
    """As redis-py's client may: the cancel becomes a connection error, or nothing at all."""
    started = asyncio.Event()
    rounds = 0

    async def refresh() -> None:
        nonlocal rounds
        rounds += 1
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if rounds % 2:
                raise RedisConnectionError("Connection closed by server.") from None

    async def use_and_leave() -> None:
        async with refreshing(refresh, every_s=0.01, what="test copy"):
            await started.wait()

    leaving = asyncio.create_task(use_and_leave())
    done, _ = await asyncio.wait({leaving}, timeout=5)
    assert leaving in done, "leaving the block hangs: the loop outlived its cancel"
    assert rounds == 1
