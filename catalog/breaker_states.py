"""The states of a provider's circuit breaker, from healthy to broken.

Kept here, in the lowest package, because the breakers that keep these states (`queues`)
and the brain that ranks providers by them (`brain`) may both import only `catalog`. The
order is part of the meaning: the brain ranks a provider by its state's position, and the
gateway's `mpc_breaker_state` gauge reports the same position (0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

from typing import Literal, get_args

BreakerState = Literal["closed", "half_open", "open"]
BREAKER_STATES: tuple[BreakerState, ...] = get_args(BreakerState)
