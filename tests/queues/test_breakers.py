"""Provider breakers against a real Redis: opening, probing, closing, and the one-command
success path taken while a breaker is closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from queues import breakers, keys
from queues.redis import connect

T0 = 1_800_000_000.0


@pytest.fixture
async def redis(clean_redis: str) -> AsyncIterator[Redis]:
    client = connect(clean_redis)
    yield client
    await client.aclose()


async def _fields(redis: Redis, provider: str) -> dict[str, str]:
    raw = await redis.hgetall(keys.breaker(provider))  # type: ignore[misc]
    return {k.decode(): v.decode() for k, v in raw.items()}


async def _fail(redis: Redis, provider: str, times: int, now: float) -> list[breakers.Transition]:
    transitions = []
    for _ in range(times):
        transition = await breakers.record_failure(redis, provider, now=now)
        if transition is not None:
            transitions.append(transition)
    return transitions


async def test_a_provider_never_seen_is_allowed_quietly(redis: Redis) -> None:
    permit = await breakers.allow_call(redis, "openai", now=T0)
    assert permit.allowed and permit.quiet and permit.transition is None


async def test_consecutive_failures_open_then_a_single_probe_closes(redis: Redis) -> None:
    assert await _fail(redis, "openai", 4, T0) == []
    opened = await _fail(redis, "openai", 1, T0)
    assert [(t.before, t.after) for t in opened] == [("closed", "open")]
    assert not (await breakers.allow_call(redis, "openai", cool_off_s=10, now=T0 + 5)).allowed

    probe = await breakers.allow_call(redis, "openai", cool_off_s=10, now=T0 + 11)
    assert probe.allowed and not probe.quiet
    assert probe.transition is not None and probe.transition.after == "half_open"
    # Only one caller gets the probe while it runs.
    assert not (await breakers.allow_call(redis, "openai", cool_off_s=10, now=T0 + 11)).allowed

    closed = await breakers.record_success(redis, "openai", quiet=probe.quiet, now=T0 + 12)
    assert closed is not None and (closed.before, closed.after) == ("half_open", "closed")
    assert (await breakers.allow_call(redis, "openai", now=T0 + 12)).allowed


async def test_a_quiet_success_resets_the_consecutive_count(redis: Redis) -> None:
    await _fail(redis, "groq", 4, T0)
    permit = await breakers.allow_call(redis, "groq", now=T0 + 1)
    assert permit.quiet
    assert await breakers.record_success(redis, "groq", quiet=True, now=T0 + 1) is None
    fields = await _fields(redis, "groq")
    assert fields["consecutive"] == "0" and fields["window_ok"] == "1" and fields["window_fail"] == "4"
    assert await _fail(redis, "groq", 4, T0 + 2) == []  # 4 in a row again: still closed
    assert (await _fields(redis, "groq"))["state"] == "closed"
    assert 0 < await redis.ttl(keys.breaker("groq")) <= breakers.HISTORY_TTL_S


async def test_quiet_successes_count_toward_the_error_rate(redis: Redis) -> None:
    # Alternate success/failure: never 5 in a row, but half of 20 calls fail.
    transitions = []
    for i in range(20):
        now = T0 + i * 0.1
        if i % 2:
            transitions += await _fail(redis, "together", 1, now)
        else:
            permit = await breakers.allow_call(redis, "together", now=now)
            assert permit.allowed
            await breakers.record_success(redis, "together", quiet=permit.quiet, now=now)
    assert [(t.after, t.reason) for t in transitions] == [("open", "error rate 50% over 20 calls")]


async def test_a_stale_window_is_not_quiet_and_restarts_on_success(redis: Redis) -> None:
    await _fail(redis, "anthropic", 3, T0)
    permit = await breakers.allow_call(redis, "anthropic", now=T0 + breakers.WINDOW_S + 1)
    assert permit.allowed and not permit.quiet
    await breakers.record_success(redis, "anthropic", quiet=permit.quiet, now=T0 + breakers.WINDOW_S + 1)
    fields = await _fields(redis, "anthropic")
    assert (fields["window_ok"], fields["window_fail"], fields["consecutive"]) == ("1", "0", "0")


async def test_read_states_lists_only_breakers_that_are_not_closed(redis: Redis) -> None:
    await _fail(redis, "fal", 5, T0)
    await _fail(redis, "replicate", 2, T0)
    states = await breakers.read_states(redis, ["fal", "replicate", "openai"])
    assert set(states) == {"fal"} and states["fal"][0] == "open"


class FakeClock:
    """The view's clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_view_serves_a_closed_breaker_without_reading_redis_until_it_is_stale(redis: Redis) -> None:
    clock = FakeClock()
    view = breakers.BreakerView(redis, max_age_s=10, clock=clock)
    assert (await view.allow("openai", now=T0)).allowed
    await _fail(redis, "openai", 5, T0)  # another worker opens it
    clock.now += 9
    assert (await view.allow("openai", now=T0)).allowed  # this worker has not looked again yet
    clock.now += 1
    assert not (await view.allow("openai", now=T0)).allowed  # stale: read again, and open is never cached
    assert not (await view.allow("openai", now=T0)).allowed


async def test_the_view_rereads_a_provider_this_worker_forgot(redis: Redis) -> None:
    view = breakers.BreakerView(redis, max_age_s=60, clock=FakeClock())
    assert (await view.allow("groq", now=T0)).allowed
    await _fail(redis, "groq", 5, T0)
    view.forget("groq")  # what the chat handler does after recording a failure
    assert not (await view.allow("groq", now=T0)).allowed


async def test_the_view_probes_like_allow_call(redis: Redis) -> None:
    view = breakers.BreakerView(redis, cool_off_s=10, max_age_s=60, clock=FakeClock())
    await _fail(redis, "fal", 5, T0)
    probe = await view.allow("fal", now=T0 + 11)
    assert probe.allowed and probe.transition is not None and probe.transition.after == "half_open"
    assert not (await view.allow("fal", now=T0 + 11)).allowed  # the one probe is out
