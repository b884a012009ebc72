"""Writers racing on one key: each WATCH transaction that loses is run again, so every writer's
change lands exactly once. Run against the real Redis server and fakeredis."""

from __future__ import annotations

import asyncio
import dataclasses

from redis.asyncio import Redis

from queues import breakers, keys, store
from queues.claim import claim_next
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import read_events
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job

RACERS = 20
SUBMISSION = Submission(task="chat_general", queue="batch", input_json=b"{}", params_json=b"{}", owner="o")


async def _connections_for_every_racer(redis: Redis) -> None:
    """Open the racers' connections first, so that none starts late while connecting."""
    await asyncio.gather(*[redis.ping() for _ in range(RACERS)])


async def test_events_racing_on_one_job_are_each_recorded(redis: Redis) -> None:
    record, _ = await submit_job(redis, SUBMISSION)
    claim = await claim_next(redis, "batch", in_progress_ms=10_000, worker_id="w1", retention=DEFAULT_RETENTION)
    assert claim is not None and claim.job_id == record.id
    await _connections_for_every_racer(redis)
    recorded = await asyncio.gather(
        *[
            store.record_event(redis, record.id, "progress", {"i": i}, progress=i / RACERS, retention=DEFAULT_RETENTION)
            for i in range(RACERS)
        ]
    )
    assert all(recorded)
    progress = [e.data["i"] for e in await read_events(redis, record.id) if e.type == "progress"]
    assert sorted(progress) == list(range(RACERS))


async def test_requests_racing_with_one_idempotency_key_make_one_job(redis: Redis) -> None:
    submission = dataclasses.replace(SUBMISSION, idempotency_key="race")
    await _connections_for_every_racer(redis)
    results = await asyncio.gather(*[submit_job(redis, submission) for _ in range(RACERS)])
    assert len({record.id for record, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await redis.zcard(QUEUE_CLASS_LIMITS["batch"].queue_name) == 1


async def test_failures_racing_from_many_workers_are_each_counted_once(redis: Redis) -> None:
    await _connections_for_every_racer(redis)
    transitions = await asyncio.gather(
        *[breakers.record_failure(redis, "mistral", now=1_800_000_000.0) for _ in range(RACERS)]
    )
    raw = await redis.hgetall(keys.breaker("mistral"))  # type: ignore[misc]
    assert (raw[b"window_fail"], raw[b"consecutive"]) == (str(RACERS).encode(), str(RACERS).encode())
    assert [(t.before, t.after) for t in transitions if t is not None] == [("closed", "open")]
