"""A deliberately plain re-statement of the selection policy, for the property tests.

It shares no code with `brain`: it scans every catalog model, sorts the survivors with one
key and draws the fallback chain round by round. Where the brain and this disagree, one
of them misreads the policy in `brain.select`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from brain import HealthSnapshot, SelectionRequest
from catalog import Catalog
from catalog.schema import Model, Task

LEVEL = {"draft": 0, "strong": 1, "flagship": 2}
SPEED = {"fast": 0, "medium": 1, "slow": 2}
STATE = {"closed": 0, "half_open": 1, "open": 2}
RULE_ORDER = (
    "disabled",
    "capabilities",
    "inputs",
    "providers.deny",
    "providers.allow",
    "min_context",
    "speed",
    "domains",
    "tier",
)


@dataclass
class Expected:
    error: str | None = None  # "UnknownTask", "UnknownModel", "ModelNotForTask", "NoCandidate"
    constraint: str | None = None  # for NoCandidate
    verdicts: dict[str, str | None] = field(default_factory=dict)  # model id -> removing rule
    ranked: list[Model] = field(default_factory=list)  # eligible models, best first (pin first)
    chain: list[Model] = field(default_factory=list)  # primary + fallbacks
    pinned: Model | None = None
    floor: int = 0  # requested tier level


def find(catalog: Catalog, name: str) -> Model | None:
    for m in catalog.data.models:
        if name in (m.id, m.provider_id, *m.aliases):
            return m
    return None


def verdict(m: Model, task: Task, req: SelectionRequest) -> str | None:
    if not m.enabled:
        return "disabled"
    if not set(task.required_capabilities) | set(req.capabilities) <= set(m.capabilities):
        return "capabilities"
    if not set(m.required_inputs) <= set(req.inputs):
        return "inputs"
    if m.provider in req.providers_deny:
        return "providers.deny"
    if req.providers_allow and m.provider not in req.providers_allow:
        return "providers.allow"
    if req.min_context:
        if m.context_window is None:
            if m.modality == "text":
                return "min_context"
        elif m.context_window < req.min_context:
            return "min_context"
    if req.speed is not None and m.speed != req.speed:
        return "speed"
    if req.domains_required and req.domains and not set(m.domains) & set(req.domains):
        return "domains"
    return None


def health_key(health: HealthSnapshot, provider: str) -> tuple[int, float]:
    state = health.state(provider)
    if state == "closed":
        return (0, 0.0)
    return (STATE[state], -(health.score(provider) or 0.0))


def price(m: Model) -> float:
    if m.pricing.output is not None:
        return m.pricing.output
    return m.pricing.input if m.pricing.input is not None else math.inf


def expected(catalog: Catalog, req: SelectionRequest, health: HealthSnapshot) -> Expected:
    task = next((t for t in catalog.data.tasks if t.id == req.task), None)
    if task is None:
        return Expected(error="UnknownTask")
    pin = None
    if req.model is not None:
        pin = find(catalog, req.model)
        if pin is None:
            return Expected(error="UnknownModel")
        if req.task not in pin.tasks:
            return Expected(error="ModelNotForTask")
    candidates = [m for m in catalog.data.models if req.task in m.tasks]
    out = Expected(verdicts={m.id: verdict(m, task, req) for m in candidates})
    pinned = pin if pin is not None and out.verdicts[pin.id] is None else None
    out.pinned = pinned
    out.floor = LEVEL[req.tier or (pinned.tier if pinned else task.default_tier)]
    survivors = [m for m in candidates if out.verdicts[m.id] is None and m is not pinned]
    levels = {LEVEL[m.tier] for m in survivors}
    above = [lv for lv in levels if lv >= out.floor]
    base = min(above) if above else (max(levels) if req.allow_downgrade and levels else None)
    eligible = []
    for m in survivors:
        if base is not None and LEVEL[m.tier] >= base:
            eligible.append(m)
        else:
            out.verdicts[m.id] = "tier"
    wanted = set(req.domains)
    eligible.sort(
        key=lambda m: (
            health_key(health, m.provider),
            LEVEL[m.tier] - (base or 0),
            -len(set(m.domains) & wanted),
            SPEED[m.speed],
            price(m),
            m.id,
        )
    )
    out.ranked = [pinned, *eligible] if pinned is not None else eligible
    if not out.ranked:
        reached = [RULE_ORDER.index(r) for r in out.verdicts.values() if r is not None]
        out.error = "NoCandidate"
        out.constraint = RULE_ORDER[max(reached)] if reached else "task"
        return out
    need = min(max(req.max_fallbacks, 0), 8) + 1
    remaining = list(out.ranked)
    while remaining and len(out.chain) < need:
        used: set[str] = set()
        for m in list(remaining):
            if m.provider not in used:
                used.add(m.provider)
                out.chain.append(m)
                remaining.remove(m)
    out.chain = out.chain[:need]
    return out
