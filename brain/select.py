"""Choose a model and its fallback chain for one task.

The policy, as a user would state it:

1. **Candidates** are the models whose `tasks` list the task.
2. **Rules** remove candidates, in this order, each under its name: `disabled`,
   `capabilities` (the task's required ones plus the request's), `inputs` (a model that
   requires an input the request does not carry: Runway's gen4_turbo without an image, a
   HeyGen avatar model without an avatar), `providers.deny`,
   `providers.allow`, `min_context` (text models need a `context_window` of at least
   `min_context`; a non-text model without one passes), `speed` (exact, when given),
   `domains` (only when `domains_required`; otherwise domains just rank) and `tier`.
3. **Tier policy.** The requested tier (else the task's `default_tier`) is a floor: never
   answer below it. If nothing at that tier survives, go up one tier at a time
   (draft → strong → flagship) and say so in `notes`. Only with `allow_downgrade`, and only
   when nothing at or above the floor survives, go down to the highest tier that has a
   survivor. The tier settled on is the *base tier*; models below it are removed by `tier`.
   Fallbacks come from the base tier or higher, never lower: a user who asked for `strong`
   expects every answer in the chain to be at least that good, and one who asked for a
   cheap `draft` would rather wait on a better model than get nothing.
4. **Ranking** (a total order): provider health (closed, then half_open, then open — so a
   broken provider drops behind but is still chosen when every candidate is broken), then
   closeness to the base tier (exact before higher, nearest first), then domain overlap
   (more first), then speed (fast, medium, slow — tier already stands for quality, so
   among equals waiting less wins), then price (cheaper first), then canonical id.
5. **Fallback chain** (`max_fallbacks`, default 3, clamped to 0..8): provider by provider —
   the best-ranked model of every other provider before a second model of any provider,
   because outages and rate limits strike a whole provider at once. No model appears twice
   and the primary never reappears.
6. **Pinning** (`model`): a name (id, alias or provider_id) that must serve the task. If
   it is enabled and passes the request's rules it is the primary whatever its rank and
   tier, its tier becomes the floor for the fallbacks unless `tier` was given, and the
   chain is built as usual. If it fails a rule it is ignored and a note says why, so that
   e.g. `providers_deny` is never overridden silently.

Most requests are answered by a lazy walk (`brain._walk`): the index keeps each task's
candidates per provider and tier, pre-sorted by (speed, price, id), so a provider's first
survivor is its best, and the chain only needs each provider's best few. Requests with
`explain`, and those where nothing survives, take the plain path (`Evaluation`) that
judges every candidate; the tests check that both paths always agree.
"""

from __future__ import annotations

from typing import NoReturn

import msgspec

from brain._explain import explanation, no_candidate_message, notes
from brain._rank import Constraints, Evaluation, first_failure, round_robin
from brain._walk import chain
from brain.errors import ModelNotForTask, NoCandidate, UnknownModel, UnknownTask
from brain.health_snapshot import HEALTHY, HealthSnapshot
from brain.index import Entry, Index, TaskIndex, index_for
from brain.request import SelectionRequest
from brain.result import Selection
from catalog import Catalog
from catalog.schema import Tier


def select(index: Index | Catalog, request: SelectionRequest, health: HealthSnapshot = HEALTHY) -> Selection:
    """The primary model and fallback chain for `request`.

    Raises `UnknownTask`, `UnknownModel`, `ModelNotForTask` or `NoCandidate`.
    """
    if not isinstance(index, Index):
        index = index_for(index)
    task_index = _task_index_for(index, request.task)
    pin = _pin(index, task_index, request.model)
    return select_in(task_index, request, health, pin)


def _task_index_for(index: Index, task: str) -> TaskIndex:
    task_index = index.tasks.get(task)
    if task_index is None:
        hint = f"{task!r} is a plan: use orchestrate" if task in index.catalog.plans else None
        raise UnknownTask(task, index.tasks, hint=hint)
    return task_index


def select_in(task_index: TaskIndex, request: SelectionRequest, health: HealthSnapshot, pin: Entry | None) -> Selection:
    """`select` once the task and the pin are resolved (plans call this per step)."""
    constraints = Constraints(request, task_index.task.default_tier, task_index.domain_bits, task_index.required_inputs)
    pinned: Entry | None = None
    rejected: tuple[str, str] | None = None
    if pin is not None:
        rule = pin.static_rule or first_failure(pin, constraints)
        if rule is None:
            pinned = pin
            if request.tier is None:
                constraints.use_tier(pin.model.tier)
        else:
            rejected = (pin.id, rule)
    if request.explain:
        return _explained(task_index, constraints, health, pinned, rejected)
    entries, base = chain(task_index, constraints, health, pinned)
    if not entries:
        _raise_no_candidate(task_index, constraints, health)
    return _selection(task_index, constraints, entries, base, health, pinned, rejected)


def _pin(index: Index, task_index: TaskIndex, name: str | None) -> Entry | None:
    if name is None:
        return None
    model = index.catalog.resolve(name)
    if model is None:
        raise UnknownModel(name)
    entry = task_index.by_id.get(model.id)
    if entry is None:
        raise ModelNotForTask(model.id, task_index.task.id, model.tasks)
    return entry


def _raise_no_candidate(task_index: TaskIndex, constraints: Constraints, health: HealthSnapshot) -> NoReturn:
    evaluation = Evaluation(task_index, constraints, health, None)
    constraint = evaluation.constraint()
    left = sum(1 for rule in evaluation.verdicts.values() if rule == constraint)
    message = no_candidate_message(task_index, constraints, constraint, left)
    raise NoCandidate(constraint, message, task=task_index.task.id)


def _explained(
    task_index: TaskIndex,
    constraints: Constraints,
    health: HealthSnapshot,
    pinned: Entry | None,
    rejected: tuple[str, str] | None,
) -> Selection:
    evaluation = Evaluation(task_index, constraints, health, pinned)
    if not evaluation.ranked:
        _raise_no_candidate(task_index, constraints, health)
    entries = round_robin(evaluation.ranked, constraints.chain_length)
    selection = _selection(task_index, constraints, entries, evaluation.base, health, pinned, rejected)
    why = explanation(task_index, constraints, health, evaluation, pinned is not None)
    return msgspec.structs.replace(selection, explain=why)


def _selection(
    task_index: TaskIndex,
    constraints: Constraints,
    entries: list[Entry],
    base: int | None,
    health: HealthSnapshot,
    pinned: Entry | None,
    rejected: tuple[str, str] | None,
) -> Selection:
    primary = entries[0]
    tier: Tier = primary.model.tier
    return Selection(
        task=task_index.task.id,
        model=primary.model,
        fallbacks=tuple([entry.model for entry in entries[1:]]),
        tier_requested=constraints.requested_tier,
        tier_used=tier,
        notes=notes(constraints, primary, base, health, pinned is not None, rejected),
        explain=None,
    )
