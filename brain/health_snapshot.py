"""Provider health as the brain sees it: an immutable snapshot passed into every call.

The brain never reads breaker state itself (it has no I/O); the API takes a snapshot of
the circuit breakers kept in Redis and hands it over. Passing it in, rather than reading a
global, is what makes "same catalog, same snapshot, same request → same answer" hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from catalog.breaker_states import BREAKER_STATES, BreakerState

# A state ranks by its position, healthy first. Ranks are spaced so that a score can order
# providers inside one state without ever crossing into the next: half_open lies in
# [1, 1.5], open in [2, 2.5].
_STATE_RANK: Mapping[str, float] = {state: float(position) for position, state in enumerate(BREAKER_STATES)}


class HealthSnapshot(Mapping[str, BreakerState]):
    """Provider -> breaker state; providers not listed are healthy ("closed").

    `scores` (0..1, higher is healthier, e.g. a recent success ratio) order providers that
    share a half_open or open state. They are ignored for closed providers on purpose: a
    healthy provider's small error-rate wobble must not reshuffle the primary from one
    request to the next.
    """

    __slots__ = ("_ranks", "_scores", "_states")

    def __init__(
        self,
        states: Mapping[str, BreakerState] | None = None,
        *,
        scores: Mapping[str, float] | None = None,
    ) -> None:
        given = dict(states or {})
        for provider, state in given.items():
            if state not in _STATE_RANK:
                raise ValueError(f"provider {provider!r}: breaker state {state!r} is not one of {BREAKER_STATES}")
        self._states: dict[str, BreakerState] = given
        self._scores: dict[str, float] = {
            provider: min(max(float(score), 0.0), 1.0) for provider, score in (scores or {}).items()
        }
        # Only unhealthy providers get an entry: `rank()` of a missing key is 0.0, and an
        # empty dict lets the selector skip health handling entirely on the common path.
        self._ranks: dict[str, float] = {
            provider: _STATE_RANK[state] + (1.0 - self._scores.get(provider, 0.0)) / 2
            for provider, state in given.items()
            if state != "closed"
        }

    def __getitem__(self, provider: str) -> BreakerState:
        return self._states[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"HealthSnapshot({self._states!r}, scores={self._scores!r})"

    def state(self, provider: str) -> BreakerState:
        return self._states.get(provider, "closed")

    def score(self, provider: str) -> float | None:
        return self._scores.get(provider)

    def rank(self, provider: str) -> float:
        """Sort key: lower is healthier. 0.0 for every closed or unknown provider."""
        return self._ranks.get(provider, 0.0)

    @property
    def unhealthy(self) -> Mapping[str, float]:
        """Rank of every provider that is not closed (read-only use only)."""
        return self._ranks


HEALTHY = HealthSnapshot()
"""The snapshot with every provider closed: the default when the caller has none."""
