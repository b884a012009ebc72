"""Properties of `brain.select` over generated catalogs, requests and health snapshots."""

from __future__ import annotations

import random

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brain import (
    BrainError,
    HealthSnapshot,
    Index,
    ModelNotForTask,
    NoCandidate,
    Selection,
    SelectionRequest,
    select,
)
from brain._rank import Constraints, first_failure, passes
from catalog import Catalog
from catalog.schema import Model
from tests.brain.catalogs import catalogs, health_snapshots, requests
from tests.brain.reference import LEVEL, Expected, expected, verdict

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Catalog, SelectionRequest, HealthSnapshot]:
    catalog = draw(catalogs())
    return catalog, draw(requests(catalog)), draw(health_snapshots())


@st.composite
def batches(draw: st.DrawFn) -> tuple[Catalog, list[SelectionRequest], list[HealthSnapshot]]:
    """One catalog with many requests and snapshots: the brain has several code paths
    (no per-model rule, sparse rules, pins, domains, health, few providers), and only a
    batch per catalog reaches their rarer combinations often enough, at little cost."""
    catalog = draw(catalogs())
    reqs = draw(st.lists(requests(catalog), min_size=25, max_size=25))
    return catalog, reqs, draw(st.lists(health_snapshots(), min_size=3, max_size=3))


def run(catalog: Catalog, req: SelectionRequest, health: HealthSnapshot) -> Selection | BrainError:
    try:
        return select(Index(catalog), req, health)
    except BrainError as exc:
        return exc


def chain_of(sel: Selection) -> list[Model]:
    return [sel.model, *sel.fallbacks]


@PROPERTY
@given(batches())
def test_agrees_with_the_plain_reference(batch: tuple[Catalog, list[SelectionRequest], list[HealthSnapshot]]) -> None:
    catalog, reqs, snapshots = batch
    index = Index(catalog)
    for req in reqs:
        for health in snapshots:
            want = expected(catalog, req, health)
            try:
                got: Selection | BrainError = select(index, req, health)
            except BrainError as exc:
                got = exc
            if want.error is not None:
                assert type(got).__name__ == want.error, (req, health, got)
                assert not isinstance(got, NoCandidate) or got.constraint == want.constraint
                continue
            assert isinstance(got, Selection), (req, health, got)
            assert [m.id for m in chain_of(got)] == [m.id for m in want.chain], (req, health)
            assert got.tier_used == want.chain[0].tier


@PROPERTY
@given(cases())
def test_no_candidate_exactly_when_the_filtered_set_is_empty(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot],
) -> None:
    catalog, req, health = case
    req = msgspec.structs.replace(req, model=None)
    task = catalog.tasks[req.task]
    # The filtered set, computed directly: every rule but tier, then the tier floor.
    passing = [m for m in catalog.models_for_task(req.task) if verdict(m, task, req) is None]
    floor = LEVEL[req.tier or task.default_tier]
    allowed = [m for m in passing if LEVEL[m.tier] >= floor or req.allow_downgrade]
    got = run(catalog, req, health)
    assert isinstance(got, NoCandidate) == (not allowed)


@PROPERTY
@given(cases())
def test_every_model_in_the_chain_meets_the_hard_constraints(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot],
) -> None:
    catalog, req, health = case
    got = run(catalog, req, health)
    if not isinstance(got, Selection):
        return
    task = catalog.tasks[req.task]
    floor = LEVEL[req.tier] if req.tier else None
    pinned = catalog.resolve(req.model) if req.model else None
    for position, m in enumerate(chain_of(got)):
        assert req.task in m.tasks
        assert verdict(m, task, req) is None, (m.id, verdict(m, task, req))
        assert m.provider not in req.providers_deny
        assert not req.providers_allow or m.provider in req.providers_allow
        is_pin = position == 0 and pinned is not None and m.id == pinned.id
        if floor is not None and not req.allow_downgrade and not is_pin:
            assert LEVEL[m.tier] >= floor, "answered below the requested tier without allow_downgrade"


@PROPERTY
@given(cases())
def test_fallbacks_are_distinct_bounded_and_exclude_the_primary(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot],
) -> None:
    catalog, req, health = case
    got = run(catalog, req, health)
    if not isinstance(got, Selection):
        return
    ids = [m.id for m in chain_of(got)]
    assert len(ids) == len(set(ids))
    assert got.model.id not in {m.id for m in got.fallbacks}
    assert len(got.fallbacks) <= min(max(req.max_fallbacks, 0), 8)


@PROPERTY
@given(cases())
def test_fallbacks_visit_other_providers_before_repeating_one(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot],
) -> None:
    catalog, req, health = case
    got = run(catalog, req, health)
    if not isinstance(got, Selection):
        return
    eligible_providers = {m.provider for m in expected(catalog, req, health).ranked}
    chain = chain_of(got)
    providers = [m.provider for m in chain]
    assert len(set(providers)) == min(len(chain), len(eligible_providers))
    first_repeat = next((i for i, p in enumerate(providers) if p in providers[:i]), len(providers))
    assert set(providers[first_repeat:]) <= set(providers[:first_repeat])


@PROPERTY
@given(cases())
def test_unhealthy_providers_drop_behind_but_are_still_chosen(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot],
) -> None:
    catalog, req, health = case
    req = msgspec.structs.replace(req, model=None)
    want: Expected = expected(catalog, req, health)
    got = run(catalog, req, health)
    if want.error is not None:
        return
    assert isinstance(got, Selection)  # all-unhealthy candidates still give an answer
    states = {health.state(m.provider) for m in want.ranked}
    best = min(states, key=["closed", "half_open", "open"].index)
    assert health.state(got.model.provider) == best


@PROPERTY
@given(cases(), st.randoms(use_true_random=False))
def test_same_inputs_give_the_same_bytes(
    case: tuple[Catalog, SelectionRequest, HealthSnapshot], rnd: random.Random
) -> None:
    catalog, req, health = case
    first = run(catalog, req, health)
    # A separately built catalog with the models in another order must not matter either:
    # ties are broken by id, never by position or by hash order.
    shuffled = list(catalog.data.models)
    rnd.shuffle(shuffled)
    other = Catalog(msgspec.structs.replace(catalog.data, models=tuple(shuffled)), digest="other")
    again = run(other, req, HealthSnapshot(dict(health), scores={p: s for p in health if (s := health.score(p))}))
    if isinstance(first, BrainError):
        assert type(again) is type(first) and str(again) == str(first)
        return
    assert isinstance(again, Selection)
    assert msgspec.json.encode(first) == msgspec.json.encode(again)
    assert msgspec.json.encode(first) == msgspec.json.encode(run(catalog, req, health))


@PROPERTY
@given(batches())
def test_explain_does_not_change_the_answer(
    batch: tuple[Catalog, list[SelectionRequest], list[HealthSnapshot]],
) -> None:
    """`explain` switches to the path that judges every model; both paths must agree."""
    catalog, reqs, snapshots = batch
    for req, health in zip(reqs[:10], snapshots * 4, strict=False):
        plain = run(catalog, msgspec.structs.replace(req, explain=False), health)
        explained = run(catalog, msgspec.structs.replace(req, explain=True), health)
        if isinstance(plain, BrainError):
            assert str(plain) == str(explained)
            continue
        assert isinstance(explained, Selection) and explained.explain is not None
        assert msgspec.structs.replace(explained, explain=None) == plain
        want = expected(catalog, req, health)
        listed = {c.id: c for c in explained.explain.considered}
        assert set(listed) == set(want.verdicts)
        for model_id, rule in want.verdicts.items():
            if rule is not None:
                assert listed[model_id].removed_by == rule and not listed[model_id].kept
        assert [c.id for c in explained.explain.considered if c.kept] == [m.id for m in want.ranked]


@PROPERTY
@given(catalogs(), st.data())
def test_pinned_names_resolve_to_the_canonical_model(catalog: Catalog, data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(catalog.data.models))
    name = data.draw(st.sampled_from((model.id, model.provider_id, *model.aliases)))
    task = data.draw(st.sampled_from(sorted(catalog.tasks)))
    # The pin carries what the model requires, or the `inputs` rule rightly refuses it.
    got = run(catalog, SelectionRequest(task=task, model=name, inputs=model.required_inputs), HealthSnapshot())
    if task not in model.tasks:
        assert isinstance(got, ModelNotForTask)
    elif model.enabled:
        assert isinstance(got, Selection) and got.model.id == model.id
    else:
        assert not isinstance(got, Selection) or got.model.id != model.id


@PROPERTY
@given(cases())
def test_the_bitmask_rules_match_the_named_rules(case: tuple[Catalog, SelectionRequest, HealthSnapshot]) -> None:
    """The fast path's `passes` is `first_failure` without the provider lists."""
    catalog, req, _ = case
    req = msgspec.structs.replace(req, providers_allow=(), providers_deny=())
    ti = Index(catalog).tasks[req.task]
    c = Constraints(req, ti.task.default_tier, ti.domain_bits, ti.required_inputs)
    for e in ti.entries:
        assert passes(e, c) == (first_failure(e, c) is None), e.id
