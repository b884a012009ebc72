"""The breaker states are named once, in `catalog.breaker_states`; the one copy that cannot
import them (metrics imports nothing of ours) must say the same."""

from __future__ import annotations

from catalog.breaker_states import BREAKER_STATES
from metrics.definitions import BREAKER_STATE_VALUES


def test_the_breaker_state_gauge_reports_each_state_by_its_position() -> None:
    assert {state: position for position, state in enumerate(BREAKER_STATES)} == BREAKER_STATE_VALUES


def test_the_states_run_from_healthy_to_broken() -> None:
    assert BREAKER_STATES == ("closed", "half_open", "open")
