"""Provider circuit breakers, shared by every worker through Redis; read by gateways.

One hash per provider at `keys.breaker(provider)`:
  state            closed | open | half_open (no hash = closed)
  consecutive      failures in a row
  window_start     start of the current error-rate window (Unix seconds)
  window_ok/fail   calls in that window
  opened_at        when the breaker last opened
  score            recent success ratio (0..1), for the brain's ordering of broken providers

Policy: open after `CONSECUTIVE_FAILURES` failures in a row, or when a window of at least
`WINDOW_MIN_CALLS` calls has an error rate of `WINDOW_ERROR_RATE` or more. After
`COOL_OFF_S` one caller wins the probe (SET NX) and the breaker is half-open; its success
closes the breaker, its failure opens it again. Transitions use WATCH so two workers never
both apply one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from catalog.breaker_states import BREAKER_STATES as STATES
from catalog.breaker_states import BreakerState
from queues import keys
from queues.settings import DEFAULT_BREAKER_COOL_OFF_S

Clock = Callable[[], float]  # seconds on a clock that never goes back, as time.monotonic

CONSECUTIVE_FAILURES = 5
WINDOW_S = 30.0
WINDOW_MIN_CALLS = 20
WINDOW_ERROR_RATE = 0.5
COOL_OFF_S = DEFAULT_BREAKER_COOL_OFF_S  # declared with MPC_BREAKER_COOL_OFF_S, which overrides it
PROBE_TTL_S = 30  # a probe that never reports (its worker died) frees the slot after this
HISTORY_TTL_S = 3600  # an idle provider's breaker history fades away
VIEW_MAX_AGE_S = 0.25  # how stale a worker's view of a closed breaker may be (BreakerView)


@dataclass(frozen=True, slots=True)
class Transition:
    provider: str
    before: BreakerState
    after: BreakerState
    reason: str


async def read_states(redis: Redis, providers: Iterable[str]) -> dict[str, tuple[str, float | None]]:
    """(state, score) of every provider whose breaker is not closed, in one round trip."""
    names = sorted(providers)
    async with redis.pipeline(transaction=False) as pipe:
        for provider in names:
            pipe.hmget(keys.breaker(provider), ["state", "score"])
        replies = await pipe.execute()
    states: dict[str, tuple[str, float | None]] = {}
    for provider, (state, score) in zip(names, replies, strict=True):
        if state is None or state == b"closed" or state.decode() not in STATES:
            continue
        states[provider] = (state.decode(), float(score) if score is not None else None)
    return states


@dataclass(frozen=True, slots=True)
class Permit:
    """The answer to "may I call this provider now?"."""

    allowed: bool
    transition: Transition | None = None
    # The breaker was closed, in a current error-rate window: the call's success cannot
    # change its state, so `record_success` counts it in one command, without a transaction.
    quiet: bool = False


async def allow_call(
    redis: Redis, provider: str, *, cool_off_s: float = COOL_OFF_S, now: float | None = None
) -> Permit:
    """May a worker call `provider` now? Open breakers refuse until the cool-off ends, then
    let exactly one probe through (half-open)."""
    permit, _ = await _allow_call(redis, provider, cool_off_s, time.time() if now is None else now, time.monotonic)
    return permit


async def _allow_call(
    redis: Redis, provider: str, cool_off_s: float, now: float, clock: Clock
) -> tuple[Permit, ClosedSeen | None]:
    """`allow_call`, and what was read when the breaker was closed (else None), stamped by `clock`."""
    state, opened_at, window_start = await redis.hmget(  # type: ignore[misc]
        keys.breaker(provider), ["state", "opened_at", "window_start"]
    )
    if state is None or state == b"closed":
        closed = ClosedSeen(clock(), None if window_start is None else float(window_start))
        return Permit(True, quiet=closed.quiet_at(now)), closed
    if state == b"open" and now - float(opened_at or 0) < cool_off_s:
        return Permit(False), None
    # Cool-off over (or half-open with a dead probe): one caller gets the probe slot.
    if not await redis.set(keys.breaker_probe(provider), b"1", nx=True, ex=PROBE_TTL_S):
        return Permit(False), None
    if state == b"open":
        await redis.hset(keys.breaker(provider), "state", "half_open")  # type: ignore[misc]
        reason = f"cool-off of {cool_off_s:g} s over; probing"
        return Permit(True, Transition(provider, "open", "half_open", reason)), None
    return Permit(True), None


@dataclass(frozen=True, slots=True)
class ClosedSeen:
    """A closed breaker as read at `read_at` (on the reader's `Clock`)."""

    read_at: float
    window_start: float | None

    def quiet_at(self, now: float) -> bool:
        return self.window_start is None or now - self.window_start <= WINDOW_S


class BreakerView:
    """One worker process's view of the breakers, for `allow_call` without a round trip in
    the common case. A closed breaker is re-read from Redis at most every `max_age_s`, so
    another worker's opening of it is seen that late at most (its calls fail fast and fall
    back meanwhile); anything not closed is read every time, so probing works exactly as
    `allow_call`. The caller `forget`s a provider after recording anything but a quiet
    success, so its own failures and transitions are seen at once. Ages are measured on
    `clock` (seconds, only ever compared with itself)."""

    def __init__(
        self,
        redis: Redis,
        *,
        cool_off_s: float = COOL_OFF_S,
        max_age_s: float = VIEW_MAX_AGE_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self.redis = redis
        self.cool_off_s = cool_off_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._closed: dict[str, ClosedSeen] = {}

    async def allow(self, provider: str, *, now: float | None = None) -> Permit:
        now = time.time() if now is None else now
        seen = self._closed.get(provider)
        if seen is not None and self._clock() - seen.read_at < self.max_age_s:
            return Permit(True, quiet=seen.quiet_at(now))
        permit, closed = await _allow_call(self.redis, provider, self.cool_off_s, now, self._clock)
        if closed is None:
            self._closed.pop(provider, None)
        else:
            self._closed[provider] = closed
        return permit

    def forget(self, provider: str) -> None:
        self._closed.pop(provider, None)


async def record_success(
    redis: Redis, provider: str, *, quiet: bool = False, now: float | None = None
) -> Transition | None:
    """A call succeeded. With a quiet permit (the common case) the success is counted in one
    MULTI: consecutive failures back to 0, one more success in the window. A failure's
    WATCH transaction that races it sees the change and re-reads."""
    now = time.time() if now is None else now
    if not quiet:
        return await _record(redis, provider, ok=True, now=now)
    key = keys.breaker(provider)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, "consecutive", "0")
        pipe.hincrby(key, "window_ok", 1)
        pipe.hsetnx(key, "window_start", repr(now))
        pipe.expire(key, HISTORY_TTL_S)
        await pipe.execute()
    return None


async def record_failure(redis: Redis, provider: str, *, now: float | None = None) -> Transition | None:
    return await _record(redis, provider, ok=False, now=time.time() if now is None else now)


async def _record(redis: Redis, provider: str, *, ok: bool, now: float) -> Transition | None:
    """Count one call's outcome and apply the transition it causes, under WATCH; redis-py's
    `transaction` runs it again if another worker changed the breaker meanwhile."""
    key = keys.breaker(provider)

    async def attempt(pipe: Pipeline) -> Transition | None:
        raw = await pipe.hgetall(key)  # type: ignore[misc]
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        state: BreakerState = fields.get("state", "closed")
        consecutive = 0 if ok else int(fields.get("consecutive", 0)) + 1
        window_start = float(fields.get("window_start", now))
        window_ok, window_fail = int(fields.get("window_ok", 0)), int(fields.get("window_fail", 0))
        if now - window_start > WINDOW_S:
            window_start, window_ok, window_fail = now, 0, 0
        window_ok += ok
        window_fail += not ok
        calls = window_ok + window_fail
        after, reason = _next_state(state, ok, consecutive, window_fail, calls)
        update = {
            "state": after,
            "consecutive": str(consecutive),
            "window_start": repr(window_start),
            "window_ok": str(window_ok),
            "window_fail": str(window_fail),
            "score": f"{window_ok / calls:.3f}",
        }
        if after == "open" and state != "open":
            update["opened_at"] = repr(now)
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.hset(key, mapping=update)
        pipe.expire(key, HISTORY_TTL_S)
        if after != "half_open":
            pipe.delete(keys.breaker_probe(provider))
        return Transition(provider, state, after, reason) if after != state else None

    return cast(Transition | None, await redis.transaction(attempt, key, value_from_callable=True))


def _next_state(
    state: BreakerState, ok: bool, consecutive: int, window_fail: int, calls: int
) -> tuple[BreakerState, str]:
    if state == "half_open":
        return ("closed", "probe succeeded") if ok else ("open", "probe failed")
    if state == "open":
        # A success reported while open comes from a call started before it opened.
        return state, ""
    if not ok and consecutive >= CONSECUTIVE_FAILURES:
        return "open", f"{consecutive} consecutive failures"
    if not ok and calls >= WINDOW_MIN_CALLS and window_fail / calls >= WINDOW_ERROR_RATE:
        return "open", f"error rate {window_fail / calls:.0%} over {calls} calls"
    return "closed", ""
