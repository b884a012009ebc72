"""`follow_events`: the one way to wait on a job's event stream, against the real Redis server
(blocking XREAD is what it is about)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from queues.events import EventType, JobEvent, add_event_setting_ttl, follow_events
from queues.redis import connect

JOB = "job_follow"
TTL_S = 60


@pytest.fixture
async def blocking(clean_redis: str) -> AsyncIterator[Redis]:
    client = connect(clean_redis, socket_timeout=None)
    try:
        yield client
    finally:
        await client.aclose()


async def _add(redis: Redis, *events: tuple[EventType, Any]) -> None:
    """Events written in one MULTI, as a job's writes are."""
    async with redis.pipeline(transaction=True) as pipe:
        for event_type, data in events:
            add_event_setting_ttl(pipe, JOB, event_type, data, ttl_s=TTL_S)
        await pipe.execute()


def _types(batch: list[JobEvent]) -> list[str]:
    return [event.type for event in batch]


async def test_events_written_together_come_as_one_batch_cut_after_the_terminal_event(blocking: Redis) -> None:
    await _add(blocking, ("status", {"status": "processing"}), ("output", {"n": 1}))
    await _add(blocking, ("output", {"n": 2}), ("done", {"status": "succeeded"}), ("log", {"late": True}))
    batches = [batch async for batch in follow_events(blocking, JOB, idle_s=5)]
    # The first read finds all five events: one batch, ending at `done`.
    assert [_types(b) for b in batches] == [["status", "output", "output", "done"]]


async def test_it_waits_for_events_written_later_and_ends_with_the_terminal_one(
    blocking: Redis, clean_redis: str
) -> None:
    seen: list[list[str]] = []

    async def follow() -> None:
        async for batch in follow_events(blocking, JOB, idle_s=5):
            seen.append(_types(batch))
            if batch[-1].type == "output":
                await _add(writer, ("error", {"error": {"message": "boom"}}))

    writer = connect(clean_redis)
    try:
        task = asyncio.create_task(follow())
        await _add(writer, ("output", {"n": 1}))
        await asyncio.wait_for(task, 5)
    finally:
        await writer.aclose()
    assert seen == [["output"], ["error"]]


async def test_resuming_after_an_id_has_no_gap_and_no_duplicate(blocking: Redis) -> None:
    await _add(blocking, *[("progress", {"i": i}) for i in range(5)], ("done", {"status": "succeeded"}))
    everything = [e async for batch in follow_events(blocking, JOB, idle_s=5) for e in batch]
    third = everything[2].id
    rest = [e async for batch in follow_events(blocking, JOB, third, idle_s=5) for e in batch]
    assert rest == everything[3:]


async def test_an_idle_stream_gives_an_empty_batch_and_following_goes_on(blocking: Redis) -> None:
    await _add(blocking, ("status", {"status": "queued"}))
    followed = follow_events(blocking, JOB, idle_s=0.05)
    assert _types(await anext(followed)) == ["status"]
    started = time.monotonic()
    assert await anext(followed) == []
    assert time.monotonic() - started >= 0.04
    await _add(blocking, ("done", {"status": "canceled"}))
    assert _types(await anext(followed)) == ["done"]
    with pytest.raises(StopAsyncIteration):
        await anext(followed)


async def test_a_deadline_ends_the_iteration_without_a_terminal_event(blocking: Redis) -> None:
    await _add(blocking, ("status", {"status": "processing"}))
    started = time.monotonic()
    batches = [batch async for batch in follow_events(blocking, JOB, deadline_s=0.2)]
    elapsed = time.monotonic() - started
    assert [_types(b) for b in batches] == [["status"]]  # no empty batch: no idle_s was asked for
    assert 0.19 <= elapsed < 2.0


async def test_idle_batches_stop_at_the_deadline(blocking: Redis) -> None:
    batches = [batch async for batch in follow_events(blocking, JOB, idle_s=0.05, deadline_s=0.3)]
    assert batches and all(batch == [] for batch in batches) and len(batches) <= 6


async def test_following_without_idle_or_deadline_is_refused(blocking: Redis) -> None:
    with pytest.raises(ValueError, match="idle_s or deadline_s"):
        await anext(follow_events(blocking, JOB))
