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
from catalog.schema import CAPABILITIES, REQUIRED_INPUTS, TIERS, Model, Task, Tier

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
CAPABILITY_BIT: Mapping[str, int] = MappingProxyType({capability: 1 << i for i, capability in enumerate(CAPABILITIES)})
SPEED_BIT: Mapping[str, int] = MappingProxyType({speed: 1 << (16 + rank) for speed, rank in SPEED_RANK.items()})
# What a request naming a capability or speed outside the schema asks for (possible only
# when a request is built in code): a bit no model sets, so nothing passes.
UNKNOWN_BIT = 1 << 24
# Required inputs turned around so they fit the same superset test: a model that does NOT
# require input k carries bit k, and a request lacking input k requires that bit.
WITHOUT_INPUT_BIT: Mapping[str, int] = MappingProxyType({kind: 1 << (26 + i) for i, kind in enumerate(REQUIRED_INPUTS)})
# `Entry.context_limit` of a non-text model without a context window: it passes any min_context.
NO_LIMIT = 1 << 62


class DomainBits:
    """One bit per domain the catalog mentions, plus `every_model_bit`, which every model
    carries, so that "no domain required" passes the same `domain_mask & required` test as a
    real requirement."""

    __slots__ = ("bit_of", "every_model_bit")

    def __init__(self, domains: set[str]) -> None:
        ordered = sorted(domains)
        self.bit_of: Mapping[str, int] = MappingProxyType({domain: 1 << i for i, domain in enumerate(ordered)})
        self.every_model_bit = 1 << len(ordered)

    def mask(self, domains: frozenset[str] | tuple[str, ...]) -> int:
        """Bits of `domains`; a domain no model declares has none, so it matches nothing."""
        bits = 0
        for domain in domains:
            bits |= self.bit_of.get(domain, 0)
        return bits


class Entry:
    """One model as seen by one task: the fields the filters and ranking read, flattened."""

    __slots__ = (
        "capabilities",
        "context_limit",
        "context_window",
        "domain_mask",
        "domains",
        "feature_mask",
        "id",
        "measured_in_tokens",
        "model",
        "provider",
        "required_inputs",
        "speed",
        "static_position",
        "static_rule",
        "tier_and_position",
        "tier_level",
        "unit_price",
    )

    def __init__(self, model: Model, task: Task, static_position: int, domain_bits: DomainBits) -> None:
        self.model = model
        self.id = model.id
        self.provider: str = model.provider
        self.tier_level = TIER_LEVEL[model.tier]
        self.speed: str = model.speed
        self.capabilities = frozenset(model.capabilities)
        self.required_inputs = frozenset(model.required_inputs)
        self.domains = frozenset(model.domains)
        self.context_window = model.context_window
        # Only text models are measured in tokens; an image or video model without a
        # context window is not "too small", it simply has no such limit.
        self.measured_in_tokens = model.modality == "text"
        self.unit_price = unit_price(model)
        # Position in the task's static order (speed, price, id): the last ranking tie-breaks.
        self.static_position = static_position
        # (tier level, static position) folded into one int: the whole rank key when health
        # and domains do not differ, compared without building a tuple.
        self.tier_and_position = self.tier_level << 32 | static_position
        # The same rules as `first_failure`, precomputed for the fast path's one-line test:
        # capabilities and speed as bits, the context window as a number every request can
        # compare with, domains as bits.
        self.feature_mask = SPEED_BIT[model.speed]
        for capability in model.capabilities:
            self.feature_mask |= CAPABILITY_BIT[capability]
        for kind, bit in WITHOUT_INPUT_BIT.items():
            if kind not in self.required_inputs:
                self.feature_mask |= bit
        if self.context_window is not None:
            self.context_limit = self.context_window
        else:
            self.context_limit = 0 if self.measured_in_tokens else NO_LIMIT
        self.domain_mask = domain_bits.mask(model.domains) | domain_bits.every_model_bit
        # Rules that do not depend on the request are decided once, here.
        self.static_rule: str | None = None
        if not model.enabled:
            self.static_rule = "disabled"
        elif not self.capabilities.issuperset(task.required_capabilities):
            self.static_rule = "capabilities"

    def __repr__(self) -> str:
        return f"Entry({self.id!r}, static_position={self.static_position})"


def static_key(model: Model) -> tuple[int, float, str]:
    """The request-independent tail of the ranking key: speed, price, id."""
    return (SPEED_RANK[model.speed], unit_price(model), model.id)


class ProviderStream:
    """One provider's candidates for one task, per tier level, in static order.

    Round-robin fallbacks need each provider's best models, and health ranks whole
    providers, so the fast path works provider by provider: a provider excluded by
    `providers_allow`/`providers_deny` costs nothing, and health needs no per-model check.
    `by_domain[level][domain]` lists the entries of `by_level[level]` that declare `domain`,
    so the best domain match is found without scanning a whole level; `best_from_level[level]`
    is the best entry at that level or above when no per-model rule applies.
    """

    __slots__ = ("best_from_level", "by_domain", "by_level", "provider")

    def __init__(self, provider: str, entries: list[Entry]) -> None:
        self.provider = provider
        self.by_level = tuple(
            tuple(entry for entry in entries if entry.tier_level == level) for level in range(len(LEVEL_TIER))
        )
        by_domain: list[Mapping[str, tuple[Entry, ...]]] = []
        for level_entries in self.by_level:
            domains = sorted({domain for entry in level_entries for domain in entry.domains})
            by_domain.append(
                MappingProxyType(
                    {domain: tuple(entry for entry in level_entries if domain in entry.domains) for domain in domains}
                )
            )
        self.by_domain = tuple(by_domain)
        self.best_from_level = tuple(
            next((entries[0] for entries in self.by_level[level:] if entries), None) for level in range(len(LEVEL_TIER))
        )


class TaskIndex:
    """The candidates of one task.

    `entries` holds every model listing the task (disabled ones too, for explanations) in
    static order. The entries that pass the static rules are what the fast path walks:
    `by_level[level]` all of them per tier, `streams` per provider (sorted by name) and tier.
    `bests_from_level[level]` is every provider's `best_from_level[level]` sorted by rank:
    the whole first round of a request without per-model rules.
    """

    __slots__ = (
        "bests_from_level",
        "by_id",
        "by_level",
        "domain_bits",
        "entries",
        "providers",
        "required_inputs",
        "stream_by_provider",
        "streams",
        "task",
    )

    def __init__(self, task: Task, models: tuple[Model, ...], domain_bits: DomainBits) -> None:
        self.task = task
        self.domain_bits = domain_bits
        ordered = sorted(models, key=static_key)
        self.entries = tuple(Entry(model, task, i, domain_bits) for i, model in enumerate(ordered))
        self.by_id: Mapping[str, Entry] = MappingProxyType({entry.id: entry for entry in self.entries})
        # Inputs some candidate requires: only a request lacking one of these has a per-model
        # `inputs` rule to apply (for most tasks: none, and the fast path stays as it was).
        self.required_inputs = frozenset(kind for entry in self.entries for kind in entry.required_inputs)
        live = [entry for entry in self.entries if entry.static_rule is None]
        self.by_level = tuple(
            tuple(entry for entry in live if entry.tier_level == level) for level in range(len(LEVEL_TIER))
        )
        self.providers = frozenset(entry.provider for entry in live)
        self.streams = tuple(
            ProviderStream(provider, [entry for entry in live if entry.provider == provider])
            for provider in sorted(self.providers)
        )
        self.stream_by_provider: Mapping[str, ProviderStream] = MappingProxyType(
            {stream.provider: stream for stream in self.streams}
        )
        self.bests_from_level = tuple(
            tuple(
                sorted(
                    (best for stream in self.streams if (best := stream.best_from_level[level]) is not None),
                    key=lambda entry: entry.tier_and_position,
                )
            )
            for level in range(len(LEVEL_TIER))
        )


class Index:
    """Everything the brain precomputes for one `Catalog`. Immutable once built."""

    __slots__ = ("catalog", "domain_bits", "tasks")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.domain_bits = DomainBits({domain for model in catalog.data.models for domain in model.domains})
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
