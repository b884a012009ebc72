"""The fast path: decide the chain provider by provider, looking at as few models as possible.

The fallback chain is the full ranking taken round-robin over providers, and within one
provider the ranking is just (tier level, domain overlap, static order) because health is
per provider. So the chain only needs each provider's best survivor — the first one met
when walking its pre-sorted lists — and, when there are fewer live providers than places
in the chain, each provider's next few. Providers outside the allow/deny lists are never
walked; health only orders the providers' bests. With no per-model rule at all, the bests
are precomputed (`TaskIndex.bests_from_level`). The result equals `Evaluation` + `round_robin` on the
same input (the property tests compare them).

The model test `(entry.feature_mask & required_features) == required_features and
entry.context_limit >= context_needed and entry.domain_mask & required_domains` is
`brain._rank.passes`, written inline because a function call per model would cost as much
as the test itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from brain._rank import Constraints
from brain.health_snapshot import HealthSnapshot
from brain.index import LEVEL_TIER, Entry, ProviderStream, TaskIndex

_TOP = len(LEVEL_TIER)  # one past the highest tier level: the end of every level range
_Key = Callable[[Entry], Any]  # an int or a tuple: whichever is cheapest for the request


def chain(
    task_index: TaskIndex, constraints: Constraints, health: HealthSnapshot, pinned: Entry | None
) -> tuple[list[Entry], int | None]:
    """The primary and fallbacks (empty when nothing survives) and the base tier level."""
    head = [pinned] if pinned is not None else []
    unhealthy_ranks = health.unhealthy
    if not (constraints.only_provider_rules or constraints.domains or constraints.providers_allow):
        found = _round0_prefix(task_index, constraints, health, pinned, constraints.chain_length - len(head))
        if found is not None:
            return [*head, *found[0]], found[1]
    bests, presorted = _bests(task_index, constraints, constraints.requested_level, _TOP, pinned)
    base: int | None = min(entry.tier_level for entry in bests) if bests else None
    stop_level = _TOP
    if base is None and constraints.allow_downgrade:
        # Nothing at or above the floor: the highest lower tier with a survivor, alone.
        for level in range(constraints.requested_level - 1, -1, -1):
            bests, presorted = _bests(task_index, constraints, level, level + 1, pinned)
            if bests:
                base, stop_level = level, level + 1
                break
    if base is None:
        return head, None
    pin_provider = pinned.provider if pinned is not None else None
    # The pin holds its provider's first-round place; that provider's bests start round 2.
    others = [entry for entry in bests if entry.provider != pin_provider] if pinned is not None else bests
    rank = _key_function(constraints, health)
    if not presorted:
        others = sorted(others, key=rank)
    elif unhealthy_ranks and not unhealthy_ranks.keys().isdisjoint(entry.provider for entry in others):
        # stable: rank order kept within a grade of health
        others = sorted(others, key=lambda entry: unhealthy_ranks.get(entry.provider, 0.0))
    if len(head) + len(others) >= constraints.chain_length:
        return [*head, *others[: constraints.chain_length - len(head)]], base
    # Fewer live providers than places: later rounds take each provider's next models,
    # ordered by (round, rank). Rank keys are unique (they end in the static position).
    by_round: list[tuple[int, Entry]] = []
    for best in bests:
        stream = task_index.stream_by_provider[best.provider]
        entries = _top(stream, constraints, base, stop_level, pinned, constraints.chain_length)
        first_round = 1 if best.provider == pin_provider else 0
        by_round += [(first_round + round_offset, entry) for round_offset, entry in enumerate(entries)]
    by_round.sort(key=lambda item: (item[0], rank(item[1])))
    return [*head, *(entry for _, entry in by_round[: constraints.chain_length - len(head)])], base


def _round0_prefix(
    task_index: TaskIndex, constraints: Constraints, health: HealthSnapshot, pinned: Entry | None, room: int
) -> tuple[list[Entry], int] | None:
    """The first round's best `room` entries and the base level, from one walk over all
    models in (tier, static) order, taking each provider's first survivor.

    Rank is (health, tier, static), so once `room` healthy providers are found no later
    model can outrank them and the walk stops: under sparse rules this reads fewer models
    than asking every provider. None when fewer than `room` providers have survivors: then
    every provider's next models are needed anyway (the per-provider path does that).
    """
    if room <= 0:
        return None  # a pin alone fills the chain; the base tier still has to be found
    required_features = constraints.required_feature_mask
    context_needed = constraints.context_needed
    required_domains = constraints.required_domain_mask
    deny = constraints.providers_deny
    unhealthy_ranks = health.unhealthy
    pin_provider = pinned.provider if pinned is not None else None
    providers_possible = len(task_index.providers - deny - {pin_provider})
    providers_seen: set[str] = set()
    found: list[Entry] = []
    healthy = 0
    base: int | None = None
    for level in range(constraints.requested_level, _TOP):
        for entry in task_index.by_level[level]:
            provider = entry.provider
            if provider in providers_seen or entry is pinned or provider in deny:
                continue
            if (
                (entry.feature_mask & required_features) == required_features
                and entry.context_limit >= context_needed
                and entry.domain_mask & required_domains
            ):
                if base is None:
                    base = level
                if provider == pin_provider:
                    continue  # counts for the base tier; its place in round 2 is not needed
                providers_seen.add(provider)
                found.append(entry)
                if provider not in unhealthy_ranks:
                    healthy += 1
                if healthy >= room or len(providers_seen) == providers_possible:
                    break
        else:
            continue
        break
    if base is None or len(found) < room:
        return None
    if healthy < len(found):
        # stable: walk order kept within a grade of health
        found.sort(key=lambda entry: unhealthy_ranks.get(entry.provider, 0.0))
    return found[:room], base


def _key_function(constraints: Constraints, health: HealthSnapshot) -> _Key:
    """The full rank key, in the cheapest form that orders this request's candidates."""
    unhealthy_ranks = health.unhealthy
    if constraints.domains:
        domains = constraints.domains
        if unhealthy_ranks:
            return lambda entry: (
                unhealthy_ranks.get(entry.provider, 0.0),
                entry.tier_level,
                -len(entry.domains & domains),
                entry.static_position,
            )
        return lambda entry: (entry.tier_level, -len(entry.domains & domains), entry.static_position)
    if unhealthy_ranks:
        return lambda entry: (unhealthy_ranks.get(entry.provider, 0.0), entry.tier_and_position)
    return _tier_and_position


def _tier_and_position(entry: Entry) -> int:
    return entry.tier_and_position


def _bests(
    task_index: TaskIndex, constraints: Constraints, first_level: int, stop_level: int, skip: Entry | None
) -> tuple[Sequence[Entry], bool]:
    """Each allowed provider's best survivor among tier levels first_level..stop_level-1,
    and whether the list is already in rank order (ignoring health)."""
    deny, allow = constraints.providers_deny, constraints.providers_allow
    if constraints.only_provider_rules and not constraints.domains and stop_level == _TOP:
        bests: Sequence[Entry] = task_index.bests_from_level[first_level]
        if deny or allow:
            bests = [entry for entry in bests if entry.provider not in deny and (not allow or entry.provider in allow)]
        if skip is not None and skip in bests:
            # The pin was its provider's best: that provider's next one takes its place (it
            # ranks in round 2, so the list's order does not matter for it).
            stream = task_index.stream_by_provider[skip.provider]
            next_best = _stream_best(stream, constraints, first_level, stop_level, skip)
            bests = [entry for entry in bests if entry is not skip] + ([next_best] if next_best is not None else [])
        return bests, True
    found: list[Entry] = []
    for stream in task_index.streams:
        if stream.provider in deny or (allow and stream.provider not in allow):
            continue
        best = _stream_best(stream, constraints, first_level, stop_level, skip)
        if best is not None:
            found.append(best)
    return found, False


def _stream_best(
    stream: ProviderStream, constraints: Constraints, first_level: int, stop_level: int, skip: Entry | None
) -> Entry | None:
    """A provider's best survivor: the lowest tier level with any, then the most requested
    domains, then the earliest in static order."""
    required_features = constraints.required_feature_mask
    context_needed = constraints.context_needed
    required_domains = constraints.required_domain_mask
    domains = constraints.domains
    for level in range(first_level, stop_level):
        entries = stream.by_level[level]
        if not entries:
            continue
        if domains:
            best = _best_with_domains(stream.by_domain[level], constraints, skip)
            if best is not None:
                return best
        # No survivor here declares a requested domain: the first survivor is the best.
        for entry in entries:
            if (
                entry is not skip
                and (entry.feature_mask & required_features) == required_features
                and entry.context_limit >= context_needed
                and entry.domain_mask & required_domains
            ):
                return entry
    return None


def _best_with_domains(
    by_domain: Mapping[str, tuple[Entry, ...]], constraints: Constraints, skip: Entry | None
) -> Entry | None:
    """Among one level's survivors declaring a requested domain, the one with the most of
    them, then the earliest in static order; None if there is none."""
    required_features = constraints.required_feature_mask
    context_needed = constraints.context_needed
    required_domains = constraints.required_domain_mask
    domains = constraints.domains
    all_domains = -len(domains)
    best: Entry | None = None
    best_key = (0, 0)
    for domain in domains:
        for entry in by_domain.get(domain, ()):
            if (
                entry is not skip
                and (entry.feature_mask & required_features) == required_features
                and entry.context_limit >= context_needed
                and entry.domain_mask & required_domains
            ):
                key = (-len(entry.domains & domains), entry.static_position)
                if best is None or key < best_key:
                    best, best_key = entry, key
                if key[0] == all_domains:
                    break  # later entries of this list come later in static order: no better
    return best


def _top(
    stream: ProviderStream,
    constraints: Constraints,
    first_level: int,
    stop_level: int,
    skip: Entry | None,
    limit: int,
) -> list[Entry]:
    """A provider's best `limit` survivors in its own rank order (level, overlap, static)."""
    required_features = constraints.required_feature_mask
    context_needed = constraints.context_needed
    required_domains = constraints.required_domain_mask
    domains = constraints.domains
    found: list[Entry] = []
    for level in range(first_level, stop_level):
        entries = stream.by_level[level]
        if constraints.only_provider_rules:
            group = [entry for entry in entries if entry is not skip]
        else:
            group = [
                entry
                for entry in entries
                if entry is not skip
                and (entry.feature_mask & required_features) == required_features
                and entry.context_limit >= context_needed
                and entry.domain_mask & required_domains
            ]
        if domains:
            group.sort(key=lambda entry: -len(entry.domains & domains))  # stable: static order kept
        found += group
        if len(found) >= limit:
            break
    return found[:limit]
