"""Human-readable parts of an answer: notes, explanations, the NoCandidate message.

Kept apart from the selection logic because wording changes for different reasons than
ranking does, and because none of it runs on the fast path except `notes`.
"""

from __future__ import annotations

import math

from brain._rank import RULES, Constraints, Evaluation, rank_key, tier_of
from brain.health import HealthSnapshot
from brain.index import SPEED_RANK, Entry, TaskIndex
from brain.result import Considered, Explanation

_KEY_PARTS = ("provider health", "tier", "domain overlap", "speed, price or id")


def notes(
    c: Constraints,
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
    if base is not None and base > c.level:
        out.append(f"no {c.requested_tier} model fits the request: tier raised to {tier_of(base)}")
    elif base is not None and base < c.level:
        out.append(f"no model at or above {c.requested_tier} fits: downgraded to {tier_of(base)} (allow_downgrade)")
    state = health.state(primary.provider)
    if pinned and state != "closed":
        out.append(f"the pinned model's provider {primary.provider} is {state}")
    elif not pinned and state != "closed":
        out.append(f"every candidate provider is unhealthy; {primary.provider} ({state}) is the healthiest")
    elif not pinned and base is not None and primary.level > base:
        out.append(f"every {tier_of(base)} candidate's provider is unhealthy: using {tier_of(primary.level)}")
    return tuple(out)


def explanation(ti: TaskIndex, c: Constraints, health: HealthSnapshot, ev: Evaluation, pinned: bool) -> Explanation:
    rank_of = {e.id: i + 1 for i, e in enumerate(ev.ranked)}
    kept = [_considered(e, ev, rank_of) for e in ev.ranked]
    removed = [_considered(e, ev, rank_of) for e in ti.entries if e.id not in rank_of]
    return Explanation(
        requested_tier=c.requested_tier,
        base_tier=None if ev.base is None else tier_of(ev.base),
        rules=RULES,
        considered=(*kept, *removed),
        reasons=_reasons(c, health, ev, pinned),
    )


def _considered(e: Entry, ev: Evaluation, rank_of: dict[str, int]) -> Considered:
    m = e.model
    rank = rank_of.get(e.id)
    return Considered(
        id=e.id,
        provider=e.provider,
        tier=m.tier,
        speed=m.speed,
        kept=rank is not None,
        removed_by=ev.verdicts[e.id] if rank is None else None,
        rank=rank,
    )


def _reasons(c: Constraints, health: HealthSnapshot, ev: Evaluation, pinned: bool) -> tuple[str, ...]:
    if not ev.ranked:
        return ()
    win = ev.ranked[0]
    m = win.model
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
    out.append(_tier_reason(win, c, ev.base, pinned))
    if c.domains:
        hit = sorted(win.domains & c.domains)
        out.append(f"covers {len(hit)} of the requested domains" + (f": {', '.join(hit)}" if hit else ""))
    if c.speed is not None:
        out.append(f"speed {m.speed} as requested")
    else:
        out.append(f"speed {m.speed} (with no speed requested, fast ranks before medium before slow)")
    price = "no listed price" if math.isinf(win.price) else f"price {win.price:g} {m.pricing.unit}"
    out.append(f"{price} (cheaper ranks first among otherwise equal models)")
    if len(ev.ranked) == 1:
        out.append("it was the only candidate left after the rules")
    elif not pinned:
        out.append(_versus(win, ev.ranked[1], c, health, ev.base if ev.base is not None else win.level))
    return tuple(out)


def _tier_reason(win: Entry, c: Constraints, base: int | None, pinned: bool) -> str:
    tier, wanted = win.model.tier, c.requested_tier
    if pinned:
        return f"tier {tier}: the tier policy ranks the fallbacks, not a pinned model"
    if win.level == c.level:
        return f"tier {tier} is the requested tier"
    if base is not None and win.level > base:
        return f"tier {tier} is above the base tier {tier_of(base)}, whose candidates all have less healthy providers"
    if win.level > c.level:
        return f"no {wanted} candidate fits, so the tier policy went up to {tier} (never below the requested tier)"
    return f"no candidate at or above {wanted} fits; {tier} is allowed by allow_downgrade"


def _versus(win: Entry, second: Entry, c: Constraints, health: HealthSnapshot, base: int) -> str:
    """Which part of the ranking key put the winner ahead of the runner-up."""
    a, b = rank_key(win, c, health, base), rank_key(second, c, health, base)
    part = next(i for i in range(len(a)) if a[i] != b[i])
    if part == len(a) - 1:
        if SPEED_RANK[win.speed] != SPEED_RANK[second.speed]:
            why = "speed"
        elif win.price != second.price:
            why = "price"
        else:
            why = "id order (a full tie otherwise)"
    else:
        why = _KEY_PARTS[part]
    return f"ranked ahead of {second.id} on {why}"


def no_candidate_message(ti: TaskIndex, c: Constraints, constraint: str, left: int) -> str:
    required = ", ".join(sorted(c.caps | set(ti.task.required_capabilities)))
    detail = {
        "task": "the catalog lists no model for it",
        "disabled": "every model for it is disabled",
        "capabilities": f"none has every required capability ({required})",
        "providers.deny": f"the rest are on denied providers ({', '.join(sorted(c.deny))})",
        "providers.allow": f"the rest are outside the allowed providers ({', '.join(sorted(c.allow))})",
        "min_context": f"none of the rest has a context window of at least {c.min_context} tokens",
        "speed": f"none of the rest has speed {c.speed}",
        "domains": f"none of the rest covers a required domain ({', '.join(sorted(c.domains))})",
        "tier": f"the rest are below tier {c.requested_tier} and allow_downgrade is off",
    }[constraint]
    where = f" ({left} candidate(s) reached this rule)" if left else ""
    return f"no model can serve task {ti.task.id!r}: {detail}{where}"
