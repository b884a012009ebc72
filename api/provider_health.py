"""The gateway's local snapshot of provider health, refreshed in the background.

Selection must never wait on Redis: requests read `current` (an immutable snapshot), which
`refresh` replaces from the breaker hashes the workers write, every
`PROVIDER_HEALTH_REFRESH_S` in the background (`api.refresh`). If Redis is unreachable the
last snapshot stays in use.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from brain import HEALTHY, BreakerState, HealthSnapshot
from metrics.definitions import BREAKER_STATE_VALUES, GatewayMetrics
from queues.breakers import read_states

PROVIDER_HEALTH_REFRESH_S = 1.0


class ProviderHealth:
    def __init__(self, redis: Redis, providers: frozenset[str], metrics: GatewayMetrics) -> None:
        self._redis = redis
        self._providers = providers
        self._metrics = metrics
        self.current: HealthSnapshot = HEALTHY

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
