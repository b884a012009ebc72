"""Per-catalog precomputation, built once per loaded catalog and reused by every request.

Selection has to answer in microseconds, so everything that depends only on the catalog is
computed here: for each task, its candidate models wrapped in `Entry` records (bitmasks
for capabilities, speed and domains, a numeric tier level, a price), pre-sorted by the
static part of the ranking key and split by provider and tier. A request then only walks
short, already ordered lists and stops as soon as its fallback chain is decided.

The API builds one `Index` next to each `Catalog` it loads (or calls `index_for`, which
keeps the last few) and passes it to `brain.select`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from catalog import Catalog
from catalog.schema import CAPABILITIES, TIERS, Model, Task, Tier

# Tier levels: higher is better. "Up one tier" is level + 1.
TIER_LEVEL: Mapping[str, int] = MappingProxyType({"draft": 0, "strong": 1, "flagship": 2})
LEVEL_TIER: tuple[Tier, ...] = tuple(sorted(TIERS, key=lambda t: TIER_LEVEL[t]))
# With no speed requested, faster ranks first: tier already stands for quality, so among
# equals a user waits less. A requested speed is an exact filter and makes this moot.
SPEED_RANK: Mapping[str, int] = MappingProxyType({"fast": 0, "medium": 1, "slow": 2})


def unit_price(model: Model) -> float:
    """Price used for ranking: output price, else input price, else +inf (unknown last).

    Output is preferred because for generation it dominates the bill; units differ
    between modalities but a task's candidates share one modality, so they compare.
    """
    pricing = model.pricing
    if pricing.output is not None:
        return pricing.output
    if pricing.input is not None:
        return pricing.input
    return math.inf


# Request rules on capabilities and speed become one bitmask test per model: capability
# i is bit i, speed s is bit 16 + its rank. Domains get bits per catalog (`DomainBits`).
CAPABILITY_BIT: Mapping[str, int] = MappingProxyType({c: 1 << i for i, c in enumerate(CAPABILITIES)})
SPEED_BIT: Mapping[str, int] = MappingProxyType({s: 1 << (16 + r) for s, r in SPEED_RANK.items()})
# What a request naming a capability or speed outside the schema asks for (possible only
# when a request is built in code): a bit no model sets, so nothing passes.
UNKNOWN_BIT = 1 << 24
# `Entry.reach` of a non-text model without a context window: it passes any min_context.
NO_LIMIT = 1 << 62


class DomainBits:
    """One bit per domain the catalog mentions, plus `always`, a bit every model carries, so
    that "no domain required" passes the same `dmask & wanted` test as a real requirement."""

    __slots__ = ("always", "bits")

    def __init__(self, domains: set[str]) -> None:
        ordered = sorted(domains)
        self.bits: Mapping[str, int] = MappingProxyType({d: 1 << i for i, d in enumerate(ordered)})
        self.always = 1 << len(ordered)

    def mask(self, domains: frozenset[str] | tuple[str, ...]) -> int:
        """Bits of `domains`; a domain no model declares has none, so it matches nothing."""
        out = 0
        for d in domains:
            out |= self.bits.get(d, 0)
        return out


class Entry:
    """One model as seen by one task: the fields the filters and ranking read, flattened."""

    __slots__ = (
        "caps",
        "context",
        "dmask",
        "domains",
        "id",
        "level",
        "mask",
        "model",
        "needs_context",
        "order",
        "price",
        "provider",
        "reach",
        "speed",
        "spos",
        "static_rule",
    )

    def __init__(self, model: Model, task: Task, spos: int, domain_bits: DomainBits) -> None:
        self.model = model
        self.id = model.id
        self.provider: str = model.provider
        self.level = TIER_LEVEL[model.tier]
        self.speed: str = model.speed
        self.caps = frozenset(model.capabilities)
        self.domains = frozenset(model.domains)
        self.context = model.context_window
        # Only text models are measured in tokens; an image or video model without a
        # context window is not "too small", it simply has no such limit.
        self.needs_context = model.modality == "text"
        self.price = unit_price(model)
        self.spos = spos  # position in the task's static order: the last ranking tie-breaks
        # (tier level, static position) folded into one int: the whole rank key when health
        # and domains do not differ, compared without building a tuple.
        self.order = self.level << 32 | spos
        # The same rules as `first_failure`, precomputed for the fast path's one-line test.
        self.mask = SPEED_BIT[model.speed]
        for cap in model.capabilities:
            self.mask |= CAPABILITY_BIT[cap]
        self.reach = self.context if self.context is not None else (0 if self.needs_context else NO_LIMIT)
        self.dmask = domain_bits.mask(model.domains) | domain_bits.always
        # Rules that do not depend on the request are decided once, here.
        self.static_rule: str | None = None
        if not model.enabled:
            self.static_rule = "disabled"
        elif not self.caps.issuperset(task.required_capabilities):
            self.static_rule = "capabilities"

    def __repr__(self) -> str:
        return f"Entry({self.id!r}, spos={self.spos})"


def static_key(model: Model) -> tuple[int, float, str]:
    """The request-independent tail of the ranking key: speed, price, id."""
    return (SPEED_RANK[model.speed], unit_price(model), model.id)


class ProviderStream:
    """One provider's candidates for one task, per tier level, in static order.

    Round-robin fallbacks need each provider's best models, and health ranks whole
    providers, so the fast path works provider by provider: a provider excluded by
    `providers_allow`/`providers_deny` costs nothing, and health needs no per-model check.
    `by_domain[level][domain]` lists the entries of `levels[level]` that declare `domain`,
    so the best domain match is found without scanning a whole level; `first_from[lo]` is
    the best entry at level lo or above when no per-model rule applies.
    """

    __slots__ = ("by_domain", "first_from", "levels", "provider")

    def __init__(self, provider: str, entries: list[Entry]) -> None:
        self.provider = provider
        self.levels = tuple(tuple(e for e in entries if e.level == level) for level in range(len(LEVEL_TIER)))
        by_domain: list[Mapping[str, tuple[Entry, ...]]] = []
        for level_entries in self.levels:
            domains = sorted({d for e in level_entries for d in e.domains})
            by_domain.append(MappingProxyType({d: tuple(e for e in level_entries if d in e.domains) for d in domains}))
        self.by_domain = tuple(by_domain)
        self.first_from = tuple(next((lv[0] for lv in self.levels[lo:] if lv), None) for lo in range(len(LEVEL_TIER)))


class TaskIndex:
    """The candidates of one task.

    `entries` holds every model listing the task (disabled ones too, for explanations) in
    static order. The entries that pass the static rules are what the fast path walks:
    `by_level[level]` all of them per tier, `streams` per provider (sorted by name) and tier.
    `firsts[lo]` is every provider's `first_from[lo]` sorted by rank: the whole first round
    of a request without per-model rules.
    """

    __slots__ = ("by_id", "by_level", "domain_bits", "entries", "firsts", "providers", "stream_of", "streams", "task")

    def __init__(self, task: Task, models: tuple[Model, ...], domain_bits: DomainBits) -> None:
        self.task = task
        self.domain_bits = domain_bits
        ordered = sorted(models, key=static_key)
        self.entries = tuple(Entry(m, task, i, domain_bits) for i, m in enumerate(ordered))
        self.by_id: Mapping[str, Entry] = MappingProxyType({e.id: e for e in self.entries})
        live = [e for e in self.entries if e.static_rule is None]
        self.by_level = tuple(tuple(e for e in live if e.level == level) for level in range(len(LEVEL_TIER)))
        self.providers = frozenset(e.provider for e in live)
        self.streams = tuple(ProviderStream(p, [e for e in live if e.provider == p]) for p in sorted(self.providers))
        self.stream_of: Mapping[str, ProviderStream] = MappingProxyType({s.provider: s for s in self.streams})
        self.firsts = tuple(
            tuple(sorted((e for s in self.streams if (e := s.first_from[lo]) is not None), key=lambda e: e.order))
            for lo in range(len(LEVEL_TIER))
        )


class Index:
    """Everything the brain precomputes for one `Catalog`. Immutable once built."""

    __slots__ = ("catalog", "domain_bits", "tasks")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.domain_bits = DomainBits({d for m in catalog.data.models for d in m.domains})
        self.tasks: Mapping[str, TaskIndex] = MappingProxyType(
            {
                task_id: TaskIndex(task, catalog.models_for_task(task_id), self.domain_bits)
                for task_id, task in catalog.tasks.items()
            }
        )


@lru_cache(maxsize=4)
def index_for(catalog: Catalog) -> Index:
    """The `Index` of `catalog`, built on first use.

    Keyed by the catalog object itself (identity), so a reloaded catalog gets a fresh
    index; a handful are kept because a reload overlaps requests still on the old one.
    """
    return Index(catalog)
