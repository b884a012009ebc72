"""The rules, the ranking key and the fallback order, stated plainly.

`brain.select` answers most requests with the lazy walk in `brain._walk`; explanations and
"no candidate" errors need every model's verdict, which `Evaluation` computes the plain
way: `first_failure` per model, one sort by `rank_key`, then `round_robin`. The walk uses
the same rules as bitmasks (`passes`) and the same order; the tests check that the two
paths, and a third plain implementation in the tests, always agree.
"""

from __future__ import annotations

from brain.health import HealthSnapshot
from brain.index import (
    CAPABILITY_BIT,
    LEVEL_TIER,
    SPEED_BIT,
    TIER_LEVEL,
    UNKNOWN_BIT,
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
        "allow",
        "caps",
        "deny",
        "dneed",
        "domains",
        "domains_required",
        "downgrade",
        "level",
        "mask",
        "mc",
        "min_context",
        "need",
        "requested_tier",
        "speed",
        "trivial",
    )

    def __init__(self, request: SelectionRequest, default_tier: Tier, domain_bits: DomainBits) -> None:
        self.caps = frozenset(request.capabilities) if request.capabilities else _EMPTY
        self.deny = frozenset(request.providers_deny) if request.providers_deny else _EMPTY
        self.allow = frozenset(request.providers_allow) if request.providers_allow else _EMPTY
        # 0 tokens is what an empty body estimates to: it constrains nothing, and must not
        # remove text models that merely lack a declared context window.
        mc = request.min_context
        self.min_context = mc if mc is not None and mc > 0 else None
        self.speed: str | None = request.speed
        self.domains = frozenset(request.domains) if request.domains else _EMPTY
        # Requiring "one of no domains" would remove everything; treat it as no requirement.
        self.domains_required = request.domains_required and bool(self.domains)
        self.downgrade = request.allow_downgrade
        self.need = clamp_fallbacks(request.max_fallbacks) + 1  # primary + fallbacks
        self.requested_tier: Tier = request.tier or default_tier
        self.level = TIER_LEVEL[self.requested_tier]
        # No per-model rule beyond the provider lists (which the fast path applies to whole
        # providers): every live model passes, so the walk can skip `first_failure`.
        self.trivial = not (self.caps or self.min_context is not None or self.speed or self.domains_required)
        # `first_failure` as bitmasks, for the fast path's `passes`.
        self.mask = SPEED_BIT.get(self.speed, UNKNOWN_BIT) if self.speed else 0
        for cap in self.caps:
            self.mask |= CAPABILITY_BIT.get(cap, UNKNOWN_BIT)
        self.mc = self.min_context or 0
        self.dneed = domain_bits.mask(self.domains) if self.domains_required else domain_bits.always

    def use_tier(self, tier: Tier) -> None:
        self.requested_tier = tier
        self.level = TIER_LEVEL[tier]


def first_failure(e: Entry, c: Constraints) -> str | None:
    """The first request rule `e` fails, or None. Static rules are `e.static_rule`."""
    if c.caps and not c.caps <= e.caps:
        return "capabilities"
    if e.provider in c.deny:
        return "providers.deny"
    if c.allow and e.provider not in c.allow:
        return "providers.allow"
    mc = c.min_context
    if mc is not None and (e.context < mc if e.context is not None else e.needs_context):
        return "min_context"
    if c.speed is not None and e.speed != c.speed:
        return "speed"
    if c.domains_required and c.domains.isdisjoint(e.domains):
        return "domains"
    return None


def passes(e: Entry, c: Constraints) -> bool:
    """`first_failure(e, c) is None` for the request rules other than the provider lists
    (the fast path applies those to whole providers). The walk inlines this expression;
    it is spelled out here once so the two can be compared."""
    return (e.mask & c.mask) == c.mask and e.reach >= c.mc and bool(e.dmask & c.dneed)


def base_level(levels: set[int] | list[int], c: Constraints) -> int | None:
    """Tier policy: the lowest level at or above the requested one that has survivors;
    else, with allow_downgrade, the highest below; else None."""
    above = [lv for lv in levels if lv >= c.level]
    if above:
        return min(above)
    if c.downgrade and levels:
        return max(levels)
    return None


def round_robin(ranked: list[Entry], need: int) -> list[Entry]:
    """The first `need` entries of `ranked` taken provider by provider.

    Round r holds the r-th best model of every provider, in rank order: another provider's
    model is a better fallback than a second model of a provider that just failed, since
    outages and rate limits hit a whole provider at once.
    """
    chain: list[Entry] = []
    used: set[str] = set()
    for e in ranked:
        if e.provider not in used:
            used.add(e.provider)
            chain.append(e)
            if len(chain) == need:
                return chain
    if len(chain) == len(ranked):
        return chain
    # Fewer providers than places: later rounds are needed, order by (round, rank).
    nth: dict[str, int] = {}
    keyed: list[tuple[int, int]] = []
    for pos, e in enumerate(ranked):
        n = nth.get(e.provider, 0)
        nth[e.provider] = n + 1
        keyed.append((n, pos))
    keyed.sort()
    return [ranked[pos] for _, pos in keyed[:need]]


def rank_key(e: Entry, c: Constraints, health: HealthSnapshot, base: int) -> tuple[float, int, int, int]:
    """health, then distance above the base tier, then domain overlap, then static order
    (speed, price, id — folded into `spos` when the index was built)."""
    return (health.rank(e.provider), e.level - base, -len(e.domains & c.domains), e.spos)


class Evaluation:
    """Every candidate's verdict and the full ranking: the explain and error path."""

    __slots__ = ("base", "ranked", "verdicts")

    def __init__(self, ti: TaskIndex, c: Constraints, health: HealthSnapshot, pinned: Entry | None) -> None:
        rules: dict[str, str | None] = {}
        survivors: list[Entry] = []
        for e in ti.entries:
            rule = e.static_rule or first_failure(e, c)
            rules[e.id] = rule
            if rule is None and e is not pinned:
                survivors.append(e)
        self.base = base_level({e.level for e in survivors}, c)
        base = self.base
        allowed = [e for e in survivors if base is not None and e.level >= base]
        for e in survivors:
            if base is None or e.level < base:
                rules[e.id] = "tier"
        allowed.sort(key=lambda e: rank_key(e, c, health, base or 0))
        self.ranked = [pinned, *allowed] if pinned is not None else allowed
        self.verdicts = rules  # model id -> removing rule (None: kept)

    def constraint(self) -> str:
        """The rule that removed the last candidates (meaningful when nothing is ranked)."""
        reached = [RULE_INDEX[r] for r in self.verdicts.values() if r is not None]
        return RULES[max(reached)] if reached else "task"


def tier_of(level: int) -> Tier:
    return LEVEL_TIER[level]
