"""The queue gauges the gateway samples in the background, read against a real Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from api.queue_stats import QueueStats
from metrics.definitions import GatewayMetrics
from queues import presence
from queues.redis import connect
from queues.submit import Submission, submit_job


@pytest.fixture
async def redis(clean_redis: str) -> AsyncIterator[Redis]:
    client = connect(clean_redis)
    yield client
    await client.aclose()


async def test_a_sample_sets_depth_age_and_live_workers_per_class(redis: Redis) -> None:
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for worker_id in ("w1", "w2"):
            presence.announce(pipe, "batch", worker_id, b"{}", ttl_s=10, now=now)
        presence.announce(pipe, "media", "gone", b"{}", ttl_s=10, now=now - 60)
        await pipe.execute()
    await submit_job(
        redis, Submission(task="video_generate", queue="media", input_json=b"{}", params_json=b"{}", owner="o")
    )
    metrics = GatewayMetrics()
    await QueueStats(redis, metrics).sample()

    def gauge(name: str, queue: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"queue": queue})

    assert [gauge("mpc_workers_live", q) for q in ("interactive", "batch", "media")] == [0, 2, 0]
    assert [gauge("mpc_queue_depth", q) for q in ("interactive", "batch", "media")] == [0, 0, 1]
    age = gauge("mpc_queue_oldest_job_age_seconds", "media")
    assert age is not None and 0 <= age < 5
