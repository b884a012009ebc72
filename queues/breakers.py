"""Provider circuit-breaker state in Redis: written by workers, read by gateways.

One hash per provider at `keys.breaker(provider)` with fields `state` (`closed`,
`half_open`, `open`) and optionally `score` (0..1, recent success ratio). A provider with
no hash is closed.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from queues import keys

STATES = ("closed", "half_open", "open")


async def read_states(redis: Redis, providers: Iterable[str]) -> dict[str, tuple[str, float | None]]:
    """(state, score) of every provider whose breaker is not closed, in one round trip."""
    names = sorted(providers)
    async with redis.pipeline(transaction=False) as pipe:
        for provider in names:
            pipe.hmget(keys.breaker(provider), ["state", "score"])
        replies = await pipe.execute()
    states: dict[str, tuple[str, float | None]] = {}
    for provider, (state, score) in zip(names, replies, strict=True):
        if state is None or state.decode() not in STATES or state == b"closed":
            continue
        states[provider] = (state.decode(), float(score) if score is not None else None)
    return states
