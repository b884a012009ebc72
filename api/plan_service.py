"""Plans run as jobs: `POST /api/orchestrate {"execute": true}` and `POST /api/jobs` with a
plan's id submit a plan job on the `batch` class, which `workers.plan_handler` runs.

Everything that can be known before a step runs is checked here, so a plan that cannot run
is a 422 naming the step before anything is enqueued: the graph (≤ 32 steps, known tasks and
steps, bindings only to dependencies, no cycle), each binding's kind against what its step
takes (the request's own values included), and a model for every step (the brain's plan).
The plan and the brain's constraints go into the job's params; each step's model is chosen
again when it starts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.errors import InvalidRequest, Unprocessable
from api.limited_submit import submit_within_limits
from api.selection_views import OrchestrateBody, SelectBody, select_body_from, to_request
from api.state import AppState
from api.webhook_service import checked_webhook
from brain import SelectionRequest, UnknownTask, plan_for
from catalog.plan_io import PlanProblem, check_bindings, check_graph
from catalog.schema import Plan
from queues.jobs import JobRecord, encode_json
from queues.submit import IdempotencyConflict, Submission

# The ad-hoc plan's task id (a request's own `steps`); the worker registers the same.
ADHOC_TASK = "plan"
ADHOC_DESCRIPTION = "A plan sent with the request."
QUEUE = "batch"


def plan_of(state: AppState, body: OrchestrateBody) -> Plan:
    """The catalog's plan `task`, or the request's own `steps` (exactly one of them)."""
    if body.steps is not None:
        if body.task is not None:
            raise InvalidRequest("Send either 'task' (a catalog plan) or 'steps', not both.", param="steps")
        return Plan(id=ADHOC_TASK, description=ADHOC_DESCRIPTION, steps=body.steps)
    if body.task is None:
        raise InvalidRequest("Send 'task' (a catalog plan or task) or 'steps' (a plan of your own).", param="task")
    plan = state.catalog.plans.get(body.task)
    if plan is None:
        raise UnknownTask(body.task, list(state.catalog.plans))
    return plan


def previewed(state: AppState, body: OrchestrateBody) -> Plan | None:
    """For an answer without `execute`: the request's own plan, checked (its request bindings
    only when an `input` came with it); None for a catalog plan or task, which the brain plans."""
    if body.steps is None:
        if body.task is None:
            raise InvalidRequest("Send 'task' (a catalog plan or task) or 'steps' (a plan of your own).", param="task")
        return None
    plan = plan_of(state, body)
    _checked(state, plan, body.input, known_input=body.input is not None)
    return plan


def _checked(state: AppState, plan: Plan, request_input: Any, *, known_input: bool) -> None:
    try:
        check_graph(plan, state.catalog.tasks)
        check_bindings(plan, state.catalog.tasks, request_input, known_input=known_input)
    except PlanProblem as exc:
        subject = f"Plan {plan.id!r}, step {exc.step!r}" if exc.step else f"Plan {plan.id!r}"
        param = exc.where if plan.id == ADHOC_TASK or exc.where.startswith("input") else "task"
        raise Unprocessable(f"{subject}: {exc.message}.", code="invalid_plan", param=param) from None


def checked_params(state: AppState, plan: Plan, request_input: Any, select: SelectionRequest) -> dict[str, Any]:
    """The plan job's params, once the plan is known to be runnable with this input."""
    _checked(state, plan, request_input, known_input=True)
    plan_for(state.index, select, state.provider_health.current, plan=plan)  # a model for every step, or a 422
    return {"plan": msgspec.to_builtins(plan), "select": msgspec.to_builtins(select)}


async def submit_plan(
    state: AppState, owner: str, body: OrchestrateBody, *, idempotency_key: str | None, request_id: str | None
) -> tuple[JobRecord, bool]:
    plan = plan_of(state, body)
    select = msgspec.structs.replace(to_request(_as_select(body, plan)), task=plan.id)
    params = checked_params(state, plan, body.input, select)
    webhook = checked_webhook(state, body.webhook)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key")
    submission = Submission(
        task=plan.id,
        queue=QUEUE,
        input_json=encode_json(body.input),
        params_json=encode_json(params),
        owner=owner,
        idempotency_key=idempotency_key,
        request_id=request_id,
        client_params_json=encode_json(msgspec.to_builtins(msgspec.structs.replace(body, input=None))),
        webhook=webhook,
    )
    try:
        record, created = await submit_within_limits(state, submission)
    except IdempotencyConflict:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
            param="Idempotency-Key",
        ) from None
    if created:
        state.metrics.jobs_submitted.labels(QUEUE, plan.id).inc()
    return record, created


def plan_job_params(state: AppState, task: str, request_input: Any, params: dict[str, Any]) -> dict[str, Any]:
    """For `POST /api/jobs` with a catalog plan: `params` may carry the select-model
    constraints (tier, providers, speed, …), as for any job."""
    plan = state.catalog.plans[task]
    steering = {k: v for k, v in params.items() if k in SelectBody.__struct_fields__ and k != "task"}
    select = to_request(select_body_from({**steering, "task": task}))
    return checked_params(state, plan, request_input, select)


def _as_select(body: OrchestrateBody, plan: Plan) -> SelectBody:
    fields = {name: getattr(body, name) for name in SelectBody.__struct_fields__ if name != "task"}
    fields["input"] = None  # the input's size is each step's business, not the plan's
    return SelectBody(task=plan.id, **fields)
