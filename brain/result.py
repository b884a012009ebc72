"""What the brain answers: a selection, its optional explanation, and planned steps.

Plain frozen Structs so the API can encode them with msgspec directly, and so tests can
compare two answers byte for byte.
"""

from __future__ import annotations

import msgspec

from catalog.schema import Model, Speed, StepInput, Tier


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the brain's answers: immutable, keyword-only. Subclasses repeat the options
    because mypy's dataclass_transform support does not inherit `frozen`."""


class Considered(_Out, frozen=True, kw_only=True):
    """One model the selection looked at.

    `kept` models passed every rule and carry `rank` (1 = the primary, in the same order
    the fallback chain was drawn from); removed ones carry the first rule they failed.
    """

    id: str
    provider: str
    tier: Tier
    speed: Speed
    kept: bool
    removed_by: str | None = None
    rank: int | None = None


class Explanation(_Out, frozen=True, kw_only=True):
    """Why the brain chose what it chose. Built only when the request asks for it."""

    requested_tier: Tier
    # The tier the tier policy settled on: the lowest at or above the requested one that
    # had candidates (or, with allow_downgrade, the highest below). None when only a
    # pinned model was left.
    base_tier: Tier | None
    rules: tuple[str, ...]  # the filters in the order they were applied
    considered: tuple[Considered, ...]
    reasons: tuple[str, ...]  # sentences: why the primary ranked first


class Selection(_Out, frozen=True, kw_only=True):
    task: str
    model: Model
    fallbacks: tuple[Model, ...]
    tier_requested: Tier
    tier_used: Tier  # the primary's tier
    notes: tuple[str, ...] = ()  # what a client may want to know: upgrades, pins, health
    explain: Explanation | None = None


class PlannedStep(_Out, frozen=True, kw_only=True):
    id: str
    task: str
    description: str
    depends_on: tuple[str, ...]
    inputs: tuple[StepInput, ...]
    selection: Selection | None  # None for a worker step (`catalog.plan_io.WORKER_STEPS`): no model
    optional: bool = False


class PlanResult(_Out, frozen=True, kw_only=True):
    plan: str
    description: str
    steps: tuple[PlannedStep, ...]  # topological order; ties keep the catalog's step order
