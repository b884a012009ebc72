"""The fast path: decide the chain provider by provider, looking at as few models as possible.

The fallback chain is the full ranking taken round-robin over providers, and within one
provider the ranking is just (tier level, domain overlap, static order) because health is
per provider. So the chain only needs each provider's best survivor — the first one met
when walking its pre-sorted lists — and, when there are fewer live providers than places
in the chain, each provider's next few. Providers outside the allow/deny lists are never
walked; health only orders the providers' bests. With no per-model rule at all, the bests
are precomputed (`TaskIndex.firsts`). The result equals `Evaluation` + `round_robin` on the
same input (the property tests compare them).

The model test `(e.mask & mask) == mask and e.reach >= mc and e.dmask & dneed` is
`brain._rank.passes`, written inline because a function call per model would cost as much
as the test itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from brain._rank import Constraints
from brain.health import HealthSnapshot
from brain.index import LEVEL_TIER, Entry, ProviderStream, TaskIndex

_TOP = len(LEVEL_TIER)
_Key = Callable[[Entry], Any]  # an int or a tuple: whichever is cheapest for the request


def chain(
    ti: TaskIndex, c: Constraints, health: HealthSnapshot, pinned: Entry | None
) -> tuple[list[Entry], int | None]:
    """The primary and fallbacks (empty when nothing survives) and the base tier level."""
    head = [pinned] if pinned is not None else []
    ranks = health.unhealthy
    if not (c.trivial or c.domains or c.allow):
        found = _round0_prefix(ti, c, health, pinned, c.need - len(head))
        if found is not None:
            return [*head, *found[0]], found[1]
    bests, presorted = _bests(ti, c, c.level, _TOP, pinned)
    base: int | None = min(e.level for e in bests) if bests else None
    hi = _TOP
    if base is None and c.downgrade:
        # Nothing at or above the floor: the highest lower tier with a survivor, alone.
        for level in range(c.level - 1, -1, -1):
            bests, presorted = _bests(ti, c, level, level + 1, pinned)
            if bests:
                base, hi = level, level + 1
                break
    if base is None:
        return head, None
    pin_provider = pinned.provider if pinned is not None else None
    # The pin holds its provider's first-round place; that provider's bests start round 2.
    others = [e for e in bests if e.provider != pin_provider] if pinned is not None else bests
    key = _key_function(c, health)
    if not presorted:
        others = sorted(others, key=key)
    elif ranks and not ranks.keys().isdisjoint(e.provider for e in others):
        others = sorted(others, key=lambda e: ranks.get(e.provider, 0.0))  # stable: rank order kept
    if len(head) + len(others) >= c.need:
        return [*head, *others[: c.need - len(head)]], base
    # Fewer live providers than places: later rounds take each provider's next models,
    # ordered by (round, rank). Rank keys are unique (they end in the static position).
    items: list[tuple[int, Entry]] = []
    for e in bests:
        entries = _top(ti.stream_of[e.provider], c, base, hi, pinned, c.need)
        first_round = 1 if e.provider == pin_provider else 0
        items += [(first_round + j, entry) for j, entry in enumerate(entries)]
    items.sort(key=lambda item: (item[0], key(item[1])))
    return [*head, *(e for _, e in items[: c.need - len(head)])], base


def _round0_prefix(
    ti: TaskIndex, c: Constraints, health: HealthSnapshot, pinned: Entry | None, room: int
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
    mask, mc, dneed, deny = c.mask, c.mc, c.dneed, c.deny
    ranks = health.unhealthy
    pin_provider = pinned.provider if pinned is not None else None
    possible = len(ti.providers - deny - {pin_provider})
    seen: set[str] = set()
    out: list[Entry] = []
    healthy = 0
    base: int | None = None
    for level in range(c.level, _TOP):
        for e in ti.by_level[level]:
            p = e.provider
            if p in seen or e is pinned or p in deny:
                continue
            if (e.mask & mask) == mask and e.reach >= mc and e.dmask & dneed:
                if base is None:
                    base = level
                if p == pin_provider:
                    continue  # counts for the base tier; its place in round 2 is not needed
                seen.add(p)
                out.append(e)
                if p not in ranks:
                    healthy += 1
                if healthy >= room or len(seen) == possible:
                    break
        else:
            continue
        break
    if base is None or len(out) < room:
        return None
    if healthy < len(out):
        out.sort(key=lambda e: ranks.get(e.provider, 0.0))  # stable: walk order kept within a grade
    return out[:room], base


def _key_function(c: Constraints, health: HealthSnapshot) -> _Key:
    """The full rank key, in the cheapest form that orders this request's candidates."""
    ranks = health.unhealthy
    if c.domains:
        domains = c.domains
        if ranks:
            return lambda e: (ranks.get(e.provider, 0.0), e.level, -len(e.domains & domains), e.spos)
        return lambda e: (e.level, -len(e.domains & domains), e.spos)
    if ranks:
        return lambda e: (ranks.get(e.provider, 0.0), e.order)
    return _order


def _order(e: Entry) -> int:
    return e.order


def _bests(ti: TaskIndex, c: Constraints, lo: int, hi: int, skip: Entry | None) -> tuple[Sequence[Entry], bool]:
    """Each allowed provider's best survivor among tier levels lo..hi-1, and whether the
    list is already in rank order (ignoring health)."""
    deny, allow = c.deny, c.allow
    if c.trivial and not c.domains and hi == _TOP:
        bests: Sequence[Entry] = ti.firsts[lo]
        if deny or allow:
            bests = [e for e in bests if e.provider not in deny and (not allow or e.provider in allow)]
        if skip is not None and skip in bests:
            # The pin was its provider's best: that provider's next one takes its place (it
            # ranks in round 2, so the list's order does not matter for it).
            nxt = _stream_best(ti.stream_of[skip.provider], c, lo, hi, skip)
            bests = [e for e in bests if e is not skip] + ([nxt] if nxt is not None else [])
        return bests, True
    out: list[Entry] = []
    for s in ti.streams:
        if s.provider in deny or (allow and s.provider not in allow):
            continue
        best = _stream_best(s, c, lo, hi, skip)
        if best is not None:
            out.append(best)
    return out, False


def _stream_best(s: ProviderStream, c: Constraints, lo: int, hi: int, skip: Entry | None) -> Entry | None:
    """A provider's best survivor: the lowest tier level with any, then the most requested
    domains, then the earliest in static order."""
    mask, mc, dneed, domains = c.mask, c.mc, c.dneed, c.domains
    for level in range(lo, hi):
        entries = s.levels[level]
        if not entries:
            continue
        if domains:
            best = _best_with_domains(s.by_domain[level], c, skip)
            if best is not None:
                return best
        # No survivor here declares a requested domain: the first survivor is the best.
        for e in entries:
            if e is not skip and (e.mask & mask) == mask and e.reach >= mc and e.dmask & dneed:
                return e
    return None


def _best_with_domains(by_domain: Mapping[str, tuple[Entry, ...]], c: Constraints, skip: Entry | None) -> Entry | None:
    """Among one level's survivors declaring a requested domain, the one with the most of
    them, then the earliest in static order; None if there is none."""
    mask, mc, dneed, domains = c.mask, c.mc, c.dneed, c.domains
    full = -len(domains)
    best: Entry | None = None
    best_key = (0, 0)
    for d in domains:
        for e in by_domain.get(d, ()):
            if e is not skip and (e.mask & mask) == mask and e.reach >= mc and e.dmask & dneed:
                k = (-len(e.domains & domains), e.spos)
                if best is None or k < best_key:
                    best, best_key = e, k
                if k[0] == full:
                    break  # later entries of this list come later in static order: no better
    return best


def _top(s: ProviderStream, c: Constraints, lo: int, hi: int, skip: Entry | None, limit: int) -> list[Entry]:
    """A provider's best `limit` survivors in its own rank order (level, overlap, static)."""
    mask, mc, dneed, domains = c.mask, c.mc, c.dneed, c.domains
    out: list[Entry] = []
    for level in range(lo, hi):
        entries = s.levels[level]
        if c.trivial:
            group = [e for e in entries if e is not skip]
        else:
            group = [
                e for e in entries if e is not skip and (e.mask & mask) == mask and e.reach >= mc and e.dmask & dneed
            ]
        if domains:
            group.sort(key=lambda e: -len(e.domains & domains))  # stable: static order kept
        out += group
        if len(out) >= limit:
            break
    return out[:limit]
