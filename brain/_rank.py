"""The rules, the ranking key and the fallback order, stated plainly.

`brain.select` answers most requests with the lazy walk in `brain._walk`; explanations and
"no candidate" errors need every model's verdict, which `Evaluation` computes the plain
way: `first_failure` per model, one sort by `rank_key`, then `round_robin`. The walk uses
the same rules as bitmasks (`passes`) and the same order; the tests check that the two
paths, and a third plain implementation in the tests, always agree.
"""

from __future__ import annotations

from brain.health_snapshot import HealthSnapshot
from brain.index import (
    CAPABILITY_BIT,
    LEVEL_TIER,
    SPEED_BIT,
    TIER_LEVEL,
    UNKNOWN_BIT,
    WITHOUT_INPUT_BIT,
    DomainBits,
    Entry,
    TaskIndex,
)
from brain.request import SelectionRequest, clamp_fallbacks
from catalog.schema import Tier

# Filters in the order they are applied; an entry is "removed by" the first it fails, and
# NoCandidate names the latest rule any entry reached (the one that emptied the set).
RULES: tuple[str, ...] = (
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
RULE_INDEX = {rule: i for i, rule in enumerate(RULES)}

_EMPTY: frozenset[str] = frozenset()


class Constraints:
    """A request's constraints, converted once into the shapes the rules compare fastest."""

    __slots__ = (
        "allow_downgrade",
        "capabilities",
        "chain_length",
        "context_needed",
        "domains",
        "domains_required",
        "inputs",
        "inputs_missing",
        "min_context",
        "only_provider_rules",
        "providers_allow",
        "providers_deny",
        "requested_level",
        "requested_tier",
        "required_domain_mask",
        "required_feature_mask",
        "speed",
    )

    def __init__(
        self,
        request: SelectionRequest,
        default_tier: Tier,
        domain_bits: DomainBits,
        task_required_inputs: frozenset[str] = _EMPTY,
    ) -> None:
        self.capabilities = frozenset(request.capabilities) if request.capabilities else _EMPTY
        self.inputs = frozenset(request.inputs) if request.inputs else _EMPTY
        # Inputs some candidate requires and the request lacks: the only ones the rule can fail on.
        self.inputs_missing = task_required_inputs - self.inputs if task_required_inputs else _EMPTY
        self.providers_deny = frozenset(request.providers_deny) if request.providers_deny else _EMPTY
        self.providers_allow = frozenset(request.providers_allow) if request.providers_allow else _EMPTY
        # 0 tokens is what an empty body estimates to: it constrains nothing, and must not
        # remove text models that merely lack a declared context window.
        min_context = request.min_context
        self.min_context = min_context if min_context is not None and min_context > 0 else None
        self.speed: str | None = request.speed
        self.domains = frozenset(request.domains) if request.domains else _EMPTY
        # Requiring "one of no domains" would remove everything; treat it as no requirement.
        self.domains_required = request.domains_required and bool(self.domains)
        self.allow_downgrade = request.allow_downgrade
        self.chain_length = clamp_fallbacks(request.max_fallbacks) + 1  # primary + fallbacks
        self.requested_tier: Tier = request.tier or default_tier
        self.requested_level = TIER_LEVEL[self.requested_tier]
        # No per-model rule beyond the provider lists (which the fast path applies to whole
        # providers): every live model passes, so the walk can skip `first_failure`.
        self.only_provider_rules = not (
            self.capabilities
            or self.inputs_missing
            or self.min_context is not None
            or self.speed
            or self.domains_required
        )
        # `first_failure` as bitmasks and one number, for the fast path's `passes`.
        self.required_feature_mask = SPEED_BIT.get(self.speed, UNKNOWN_BIT) if self.speed else 0
        for capability in self.capabilities:
            self.required_feature_mask |= CAPABILITY_BIT.get(capability, UNKNOWN_BIT)
        for kind in self.inputs_missing:
            self.required_feature_mask |= WITHOUT_INPUT_BIT.get(kind, UNKNOWN_BIT)
        self.context_needed = self.min_context or 0
        self.required_domain_mask = (
            domain_bits.mask(self.domains) if self.domains_required else domain_bits.every_model_bit
        )

    def use_tier(self, tier: Tier) -> None:
        self.requested_tier = tier
        self.requested_level = TIER_LEVEL[tier]


def first_failure(entry: Entry, constraints: Constraints) -> str | None:
    """The first request rule `entry` fails, or None. Static rules are `entry.static_rule`."""
    if constraints.capabilities and not constraints.capabilities <= entry.capabilities:
        return "capabilities"
    if entry.required_inputs and not entry.required_inputs <= constraints.inputs:
        return "inputs"
    if entry.provider in constraints.providers_deny:
        return "providers.deny"
    if constraints.providers_allow and entry.provider not in constraints.providers_allow:
        return "providers.allow"
    min_context = constraints.min_context
    if min_context is not None and (
        entry.context_window < min_context if entry.context_window is not None else entry.measured_in_tokens
    ):
        return "min_context"
    if constraints.speed is not None and entry.speed != constraints.speed:
        return "speed"
    if constraints.domains_required and constraints.domains.isdisjoint(entry.domains):
        return "domains"
    return None


def passes(entry: Entry, constraints: Constraints) -> bool:
    """`first_failure(entry, constraints) is None` for the request rules other than the
    provider lists (the fast path applies those to whole providers). The walk inlines this
    expression; it is spelled out here once so the two can be compared."""
    required = constraints.required_feature_mask
    return (
        (entry.feature_mask & required) == required
        and entry.context_limit >= constraints.context_needed
        and bool(entry.domain_mask & constraints.required_domain_mask)
    )


def base_level(levels: set[int] | list[int], constraints: Constraints) -> int | None:
    """Tier policy: the lowest level at or above the requested one that has survivors;
    else, with allow_downgrade, the highest below; else None."""
    above = [level for level in levels if level >= constraints.requested_level]
    if above:
        return min(above)
    if constraints.allow_downgrade and levels:
        return max(levels)
    return None


def round_robin(ranked: list[Entry], length: int) -> list[Entry]:
    """The first `length` entries of `ranked` taken provider by provider.

    Round r holds the r-th best model of every provider, in rank order: another provider's
    model is a better fallback than a second model of a provider that just failed, since
    outages and rate limits hit a whole provider at once.
    """
    chain: list[Entry] = []
    used: set[str] = set()
    for entry in ranked:
        if entry.provider not in used:
            used.add(entry.provider)
            chain.append(entry)
            if len(chain) == length:
                return chain
    if len(chain) == len(ranked):
        return chain
    # Fewer providers than places: later rounds are needed, order by (round, rank).
    models_taken: dict[str, int] = {}
    round_and_rank: list[tuple[int, int]] = []
    for rank, entry in enumerate(ranked):
        taken = models_taken.get(entry.provider, 0)
        models_taken[entry.provider] = taken + 1
        round_and_rank.append((taken, rank))
    round_and_rank.sort()
    return [ranked[rank] for _, rank in round_and_rank[:length]]


def rank_key(entry: Entry, constraints: Constraints, health: HealthSnapshot, base: int) -> tuple[float, int, int, int]:
    """health, then distance above the base tier level, then domain overlap, then static
    order (speed, price, id — folded into `static_position` when the index was built)."""
    return (
        health.rank(entry.provider),
        entry.tier_level - base,
        -len(entry.domains & constraints.domains),
        entry.static_position,
    )


class Evaluation:
    """Every candidate's verdict and the full ranking: the explain and error path."""

    __slots__ = ("base", "ranked", "verdicts")

    def __init__(
        self, task_index: TaskIndex, constraints: Constraints, health: HealthSnapshot, pinned: Entry | None
    ) -> None:
        rules: dict[str, str | None] = {}
        survivors: list[Entry] = []
        for entry in task_index.entries:
            rule = entry.static_rule or first_failure(entry, constraints)
            rules[entry.id] = rule
            if rule is None and entry is not pinned:
                survivors.append(entry)
        self.base = base_level({entry.tier_level for entry in survivors}, constraints)
        base = self.base
        allowed = [entry for entry in survivors if base is not None and entry.tier_level >= base]
        for entry in survivors:
            if base is None or entry.tier_level < base:
                rules[entry.id] = "tier"
        allowed.sort(key=lambda entry: rank_key(entry, constraints, health, base or 0))
        self.ranked = [pinned, *allowed] if pinned is not None else allowed
        self.verdicts = rules  # model id -> removing rule (None: kept)

    def constraint(self) -> str:
        """The rule that removed the last candidates (meaningful when nothing is ranked)."""
        reached = [RULE_INDEX[rule] for rule in self.verdicts.values() if rule is not None]
        return RULES[max(reached)] if reached else "task"


def tier_of(level: int) -> Tier:
    return LEVEL_TIER[level]
