"""Multi-step plans: a model for every step of a catalog plan, in dependency order.

Every step is selected with the request's own constraints (tier, providers, speed,
capabilities, min_context, domains, fallbacks, explain) with the step's task put in; a
step's task brings its own default tier when the request names none. A pinned `model`
applies to the steps whose task it serves and must serve at least one. If one step has
no candidate the whole plan fails, naming the step: half a plan cannot be executed.

Steps are planned in `catalog.plans.steps_in_order`. A plan's graph is checked before it
gets here (`catalog.plan_io`: the loader for the catalog's plans, the gateway for a
request's own), so the brain raises no error of its own for a broken graph.
"""

from __future__ import annotations

import msgspec

from brain.errors import ModelNotForTask, NoCandidate, UnknownModel, UnknownTask
from brain.health_snapshot import HEALTHY, HealthSnapshot
from brain.index import Index, index_for
from brain.request import SelectionRequest
from brain.result import PlannedStep, PlanResult, Selection
from brain.select import select_in
from catalog import Catalog
from catalog.plan_io import is_worker_step
from catalog.plans import steps_in_order
from catalog.schema import Model, Plan, PlanStep


def plan_for(
    index: Index | Catalog, request: SelectionRequest, health: HealthSnapshot = HEALTHY, *, plan: Plan | None = None
) -> PlanResult:
    """A model and fallback chain for each step of plan `request.task` (or of `plan`, a
    request's own plan, checked by `catalog.plan_io` first). Worker steps get no model.

    A single task id is answered as a one-step plan, so a caller can orchestrate either.
    Raises `UnknownTask`, `UnknownModel`, `ModelNotForTask` or `NoCandidate` (with `step`).
    """
    if not isinstance(index, Index):
        index = index_for(index)
    catalog = index.catalog
    if plan is None:
        plan = catalog.plans.get(request.task)
    if plan is None:
        task = catalog.tasks.get(request.task)
        if task is None:
            raise UnknownTask(request.task, [*catalog.tasks, *catalog.plans])
        plan = Plan(
            id=task.id,
            description=task.description,
            steps=(PlanStep(id=task.id, task=task.id, description=task.description),),
        )
    pin = _pin(catalog, plan, request.model)
    steps: list[PlannedStep] = []
    for step in steps_in_order(plan):
        if is_worker_step(step.task):
            steps.append(_planned(step, None))
            continue
        task_index = index.tasks[step.task]
        step_request = msgspec.structs.replace(request, task=step.task, model=None)
        pin_entry = task_index.by_id.get(pin.id) if pin is not None else None
        try:
            selection = select_in(task_index, step_request, health, pin_entry)
        except NoCandidate as exc:
            message = f"plan {plan.id!r}, step {step.id!r}: {exc.message}"
            raise NoCandidate(exc.constraint, message, task=plan.id, step=step.id) from exc
        steps.append(_planned(step, selection))
    return PlanResult(plan=plan.id, description=plan.description, steps=tuple(steps))


def step_selection(
    index: Index, step: PlanStep, request: SelectionRequest, health: HealthSnapshot = HEALTHY
) -> Selection:
    """The model and fallbacks for one step as it starts (the health of that moment), with
    the plan's constraints. Raises `NoCandidate` naming the step."""
    step_request = msgspec.structs.replace(request, task=step.task, model=None)
    pin = index.catalog.resolve(request.model) if request.model is not None else None
    pin_entry = index.tasks[step.task].by_id.get(pin.id) if pin is not None else None
    try:
        return select_in(index.tasks[step.task], step_request, health, pin_entry)
    except NoCandidate as exc:
        message = f"step {step.id!r}: {exc.message}"
        raise NoCandidate(exc.constraint, message, task=step.task, step=step.id) from exc


def _planned(step: PlanStep, selection: Selection | None) -> PlannedStep:
    return PlannedStep(
        id=step.id,
        task=step.task,
        description=step.description,
        depends_on=step.depends_on,
        inputs=step.inputs,
        selection=selection,
        optional=step.optional,
    )


def _pin(catalog: Catalog, plan: Plan, name: str | None) -> Model | None:
    if name is None:
        return None
    model = catalog.resolve(name)
    if model is None:
        raise UnknownModel(name)
    if not any(step.task in model.tasks for step in plan.steps):  # worker steps serve no model
        raise ModelNotForTask(model.id, plan.id, model.tasks)
    return model
