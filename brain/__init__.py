"""The Model Brain: pure model selection and planning over a loaded catalog.

No I/O, no clock, no randomness: the same catalog, health snapshot and request always give
the same answer. Provider health comes in as an argument (`HealthSnapshot`); the catalog's
precomputed `Index` is built once per loaded catalog.

    index = Index(catalog)                     # or index_for(catalog), cached by identity
    selection = select(index, SelectionRequest(task="chat_general"), health)
    plan = plan_for(index, SelectionRequest(task="podcast"), health)

The selection policy is spelled out in `brain.select`'s docstring.
"""

from brain._rank import RULES
from brain.errors import BrainError, ModelNotForTask, NoCandidate, UnknownModel, UnknownTask
from brain.health_snapshot import HEALTHY, HealthSnapshot
from brain.index import Index, index_for
from brain.plan import plan_for, step_selection
from brain.request import DEFAULT_FALLBACKS, MAX_FALLBACKS, SelectionRequest, estimate_tokens
from brain.result import Considered, Explanation, PlannedStep, PlanResult, Selection
from brain.select import select
from catalog.breaker_states import BREAKER_STATES, BreakerState  # what a HealthSnapshot holds

__all__ = [
    "BREAKER_STATES",
    "DEFAULT_FALLBACKS",
    "HEALTHY",
    "MAX_FALLBACKS",
    "RULES",
    "BrainError",
    "BreakerState",
    "Considered",
    "Explanation",
    "HealthSnapshot",
    "Index",
    "ModelNotForTask",
    "NoCandidate",
    "PlanResult",
    "PlannedStep",
    "Selection",
    "SelectionRequest",
    "UnknownModel",
    "UnknownTask",
    "estimate_tokens",
    "index_for",
    "plan_for",
    "select",
    "step_selection",
]
