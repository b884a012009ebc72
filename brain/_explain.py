"""Human-readable parts of an answer: notes, explanations, the NoCandidate message.

Kept apart from the selection logic because wording changes for different reasons than
ranking does, and because none of it runs on the fast path except `notes`.
"""

from __future__ import annotations

import math

from brain._rank import RULES, Constraints, Evaluation, rank_key, tier_of
from brain.health_snapshot import HealthSnapshot
from brain.index import SPEED_RANK, Entry, TaskIndex
from brain.result import Considered, Explanation

_KEY_PARTS = ("provider health", "tier", "domain overlap", "speed, price or id")


def notes(
    constraints: Constraints,
    primary: Entry,
    base: int | None,
    health: HealthSnapshot,
    pinned: bool,
    pin_rejected: tuple[str, str] | None,
) -> tuple[str, ...]:
    """Short facts a client should see even without `explain`: pins, tier moves, health."""
    out: list[str] = []
    if pinned:
        out.append(f"pinned model {primary.id!r} is the primary")
    if pin_rejected is not None:
        out.append(f"pinned model {pin_rejected[0]!r} not used: removed by {pin_rejected[1]}")
    if base is not None and base > constraints.requested_level:
        out.append(f"no {constraints.requested_tier} model fits the request: tier raised to {tier_of(base)}")
    elif base is not None and base < constraints.requested_level:
        out.append(
            f"no model at or above {constraints.requested_tier} fits: downgraded to {tier_of(base)} (allow_downgrade)"
        )
    state = health.state(primary.provider)
    if pinned and state != "closed":
        out.append(f"the pinned model's provider {primary.provider} is {state}")
    elif not pinned and state != "closed":
        out.append(f"every candidate provider is unhealthy; {primary.provider} ({state}) is the healthiest")
    elif not pinned and base is not None and primary.tier_level > base:
        out.append(f"every {tier_of(base)} candidate's provider is unhealthy: using {tier_of(primary.tier_level)}")
    return tuple(out)


def explanation(
    task_index: TaskIndex, constraints: Constraints, health: HealthSnapshot, evaluation: Evaluation, pinned: bool
) -> Explanation:
    rank_of = {entry.id: i + 1 for i, entry in enumerate(evaluation.ranked)}
    kept = [_considered(entry, evaluation, rank_of) for entry in evaluation.ranked]
    removed = [_considered(entry, evaluation, rank_of) for entry in task_index.entries if entry.id not in rank_of]
    return Explanation(
        requested_tier=constraints.requested_tier,
        base_tier=None if evaluation.base is None else tier_of(evaluation.base),
        rules=RULES,
        considered=(*kept, *removed),
        reasons=_reasons(constraints, health, evaluation, pinned),
    )


def _considered(entry: Entry, evaluation: Evaluation, rank_of: dict[str, int]) -> Considered:
    rank = rank_of.get(entry.id)
    return Considered(
        id=entry.id,
        provider=entry.provider,
        tier=entry.model.tier,
        speed=entry.model.speed,
        kept=rank is not None,
        removed_by=evaluation.verdicts[entry.id] if rank is None else None,
        rank=rank,
    )


def _reasons(constraints: Constraints, health: HealthSnapshot, evaluation: Evaluation, pinned: bool) -> tuple[str, ...]:
    if not evaluation.ranked:
        return ()
    win = evaluation.ranked[0]
    model = win.model
    out: list[str] = []
    if pinned:
        out.append(f"{win.id} was pinned by the request, so it is the primary whatever its rank")
    state = health.state(win.provider)
    if state == "closed":
        out.append(f"its provider {win.provider} is healthy (breaker closed)")
    elif pinned:
        out.append(f"its provider {win.provider} is {state}; a pin is honoured whatever the health")
    else:
        out.append(f"its provider {win.provider} is {state}, yet no candidate's provider is healthier")
    out.append(_tier_reason(win, constraints, evaluation.base, pinned))
    if constraints.domains:
        hit = sorted(win.domains & constraints.domains)
        out.append(f"covers {len(hit)} of the requested domains" + (f": {', '.join(hit)}" if hit else ""))
    if constraints.speed is not None:
        out.append(f"speed {model.speed} as requested")
    else:
        out.append(f"speed {model.speed} (with no speed requested, fast ranks before medium before slow)")
    price = "no listed price" if math.isinf(win.unit_price) else f"price {win.unit_price:g} {model.pricing.unit}"
    out.append(f"{price} (cheaper ranks first among otherwise equal models)")
    if len(evaluation.ranked) == 1:
        out.append("it was the only candidate left after the rules")
    elif not pinned:
        base = evaluation.base if evaluation.base is not None else win.tier_level
        out.append(_versus(win, evaluation.ranked[1], constraints, health, base))
    return tuple(out)


def _tier_reason(win: Entry, constraints: Constraints, base: int | None, pinned: bool) -> str:
    tier, wanted = win.model.tier, constraints.requested_tier
    if pinned:
        return f"tier {tier}: the tier policy ranks the fallbacks, not a pinned model"
    if win.tier_level == constraints.requested_level:
        return f"tier {tier} is the requested tier"
    if base is not None and win.tier_level > base:
        return f"tier {tier} is above the base tier {tier_of(base)}, whose candidates all have less healthy providers"
    if win.tier_level > constraints.requested_level:
        return f"no {wanted} candidate fits, so the tier policy went up to {tier} (never below the requested tier)"
    return f"no candidate at or above {wanted} fits; {tier} is allowed by allow_downgrade"


def _versus(win: Entry, second: Entry, constraints: Constraints, health: HealthSnapshot, base: int) -> str:
    """Which part of the ranking key put the winner ahead of the runner-up."""
    win_key, second_key = rank_key(win, constraints, health, base), rank_key(second, constraints, health, base)
    part = next(i for i in range(len(win_key)) if win_key[i] != second_key[i])
    if part == len(win_key) - 1:
        if SPEED_RANK[win.speed] != SPEED_RANK[second.speed]:
            why = "speed"
        elif win.unit_price != second.unit_price:
            why = "price"
        else:
            why = "id order (a full tie otherwise)"
    else:
        why = _KEY_PARTS[part]
    return f"ranked ahead of {second.id} on {why}"


def no_candidate_message(task_index: TaskIndex, constraints: Constraints, constraint: str, left: int) -> str:
    required = ", ".join(sorted(constraints.capabilities | set(task_index.task.required_capabilities)))
    denied = ", ".join(sorted(constraints.providers_deny))
    allowed = ", ".join(sorted(constraints.providers_allow))
    domains = ", ".join(sorted(constraints.domains))
    lacking = ", ".join(sorted(constraints.inputs_missing)) or "none"
    detail = {
        "task": "the catalog lists no model for it",
        "disabled": "every model for it is disabled",
        "capabilities": f"none has every required capability ({required})",
        "inputs": f"the rest require an input the request lacks ({lacking})",
        "providers.deny": f"the rest are on denied providers ({denied})",
        "providers.allow": f"the rest are outside the allowed providers ({allowed})",
        "min_context": f"none of the rest has a context window of at least {constraints.min_context} tokens",
        "speed": f"none of the rest has speed {constraints.speed}",
        "domains": f"none of the rest covers a required domain ({domains})",
        "tier": f"the rest are below tier {constraints.requested_tier} and allow_downgrade is off",
    }[constraint]
    where = f" ({left} candidate(s) reached this rule)" if left else ""
    return f"no model can serve task {task_index.task.id!r}: {detail}{where}"
