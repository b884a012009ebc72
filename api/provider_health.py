"""The gateway's local snapshot of provider health, refreshed in the background.

Selection must never wait on Redis: requests read `current` (an immutable snapshot) and a
background task replaces it every second from the breaker hashes the workers write.
If Redis is unreachable the last snapshot stays in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from brain import HEALTHY, BreakerState, HealthSnapshot
from metrics.definitions import BREAKER_STATE_VALUES, GatewayMetrics
from queues.breakers import read_states

log = logging.getLogger("mpc.health")
REFRESH_INTERVAL_S = 1.0


class ProviderHealth:
    def __init__(self, redis: Redis, providers: frozenset[str], metrics: GatewayMetrics) -> None:
        self._redis = redis
        self._providers = providers
        self._metrics = metrics
        self.current: HealthSnapshot = HEALTHY
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        states = await read_states(self._redis, self._providers)
        for provider in self._providers:
            state = states.get(provider, ("closed", None))[0]
            self._metrics.breaker_state.labels(provider).set(BREAKER_STATE_VALUES[state])
        if not states and not self.current:
            return  # all closed before and after: keep the shared HEALTHY snapshot
        self.current = HealthSnapshot(
            {p: cast(BreakerState, s) for p, (s, _) in states.items()},
            scores={p: score for p, (_, score) in states.items() if score is not None},
        )

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as exc:
                log.warning("provider health refresh failed (%s); keeping the last snapshot", type(exc).__name__)
            await asyncio.sleep(REFRESH_INTERVAL_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mpc-provider-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
