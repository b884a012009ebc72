"""Queue depth, oldest-job age and live workers per queue class, sampled into the gateway's
gauges in one pipelined round trip every `QUEUE_STATS_SAMPLE_S` in the background
(`api.refresh`), so a scrape never waits on Redis."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from catalog.schema import QUEUE_CLASSES
from metrics.definitions import GatewayMetrics
from queues import keys, presence

QUEUE_STATS_SAMPLE_S = 2.0


class QueueStats:
    def __init__(self, redis: Redis, metrics: GatewayMetrics) -> None:
        self._redis = redis
        self._metrics = metrics

    async def sample(self) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for queue in QUEUE_CLASSES:
                pipe.zcard(keys.QUEUE_NAMES[queue])
                pipe.zrange(keys.QUEUE_NAMES[queue], 0, 0, withscores=True)
                presence.count_live(pipe, queue, now=now)
            replies = await pipe.execute()
        for i, queue in enumerate(QUEUE_CLASSES):
            depth, oldest, live = replies[3 * i : 3 * i + 3]
            self._metrics.queue_depth.labels(queue).set(depth)
            age = max(0.0, now - oldest[0][1] / 1000) if oldest else 0.0
            self._metrics.queue_oldest_age.labels(queue).set(age)
            self._metrics.workers_live.labels(queue).set(live)
