"""The brain as the API shows it: the bodies and answers of `POST /api/select-model` and
`POST /api/orchestrate`, and the service functions behind them.

This is the gateway's hot synchronous path, so bodies are decoded straight into Structs
(no pydantic) and answers are encoded by msgspec. The brain's errors are the caller's to
answer (`api.errors.to_api_error`: 422); here they are only counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, cast

import msgspec

from api.body import decode, unprocessable
from api.errors import Unprocessable
from api.state import AppState
from api.webhook_service import WebhookRequest
from brain import NoCandidate, PlannedStep, Selection, SelectionRequest, estimate_tokens, plan_for, select
from catalog.plan_io import MAX_PLAN_STEPS
from catalog.schema import (
    CAPABILITIES,
    PROVIDERS,
    SPEEDS,
    TIERS,
    Capability,
    Model,
    ModelName,
    Plan,
    PlanStep,
    Provider,
    Slug,
    Speed,
    Tier,
)

T = TypeVar("T")


class ProvidersFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    allow: Annotated[tuple[Provider, ...], msgspec.Meta(max_length=len(PROVIDERS))] = ()
    deny: Annotated[tuple[Provider, ...], msgspec.Meta(max_length=len(PROVIDERS))] = ()


class SelectBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    task: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    tier: Tier | None = None
    speed: Speed | None = None
    domains: Annotated[tuple[Slug, ...], msgspec.Meta(max_length=32)] = ()
    domains_required: bool = False
    capabilities: Annotated[tuple[Capability, ...], msgspec.Meta(max_length=len(CAPABILITIES))] = ()
    providers: ProvidersFilter | None = None
    min_context: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)] | None = None
    messages: Annotated[list[Any], msgspec.Meta(max_length=100_000)] | None = None
    input: Any = None
    allow_downgrade: bool = False
    fallbacks: Annotated[int, msgspec.Meta(ge=0, le=8)] = 3
    model: ModelName | None = None
    explain: bool = False


class OrchestrateBody(SelectBody, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A catalog plan (`task`) or a plan of the request's own (`steps`, the catalog's step
    schema); `execute` runs it as a job (`api.plan_service`), else the plan is answered."""

    task: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None  # type: ignore[assignment]
    steps: Annotated[tuple[PlanStep, ...], msgspec.Meta(min_length=1, max_length=MAX_PLAN_STEPS)] | None = None
    execute: bool = False
    webhook: WebhookRequest | None = None


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    provider: str
    provider_id: str


class ChosenModel(ModelRef, frozen=True, kw_only=True):
    modality: str
    tier: str
    speed: str


class SelectResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    task: str
    model: ChosenModel
    fallbacks: tuple[ModelRef, ...]
    tier_requested: str
    tier_used: str
    notes: tuple[str, ...] = ()
    catalog_version: str
    explain: Any = None


class PlanStepResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    task: str
    description: str
    depends_on: tuple[str, ...]
    inputs: tuple[dict[str, str], ...]
    model: ChosenModel | None = None  # none for a worker step (ranking, combining): no provider call
    fallbacks: tuple[ModelRef, ...] = ()
    optional: bool = False
    notes: tuple[str, ...] = ()
    explain: Any = None


class PlanResponse(msgspec.Struct, frozen=True, kw_only=True):
    object: str = "plan"
    task: str
    description: str
    steps: tuple[PlanStepResponse, ...]
    catalog_version: str


_select_body = msgspec.json.Decoder(SelectBody)
_orchestrate_body = msgspec.json.Decoder(OrchestrateBody)

# Fields whose bad values get the allowed values spelled out in the 422.
_ALLOWED = {"tier": TIERS, "speed": SPEEDS, "capabilities": CAPABILITIES, "providers": PROVIDERS}


def select_model(state: AppState, raw: bytes) -> SelectResponse:
    selection = select_counted(state, to_request(_decode(raw, _select_body)))
    return SelectResponse(
        task=selection.task,
        model=chosen(selection.model),
        fallbacks=tuple(ref(m) for m in selection.fallbacks),
        tier_requested=selection.tier_requested,
        tier_used=selection.tier_used,
        notes=selection.notes,
        catalog_version=state.catalog.version,
        explain=selection.explain,
    )


def orchestrate_body(raw: bytes) -> OrchestrateBody:
    return _decode(raw, _orchestrate_body)


def orchestrate(state: AppState, body: OrchestrateBody, plan: Plan | None) -> PlanResponse:
    """The plan with a model for every step: a catalog plan or task (`plan` None), or a
    request's own plan (checked by the caller)."""
    task = plan.id if plan is not None else cast(str, body.task)
    request = to_request(msgspec.structs.replace(body, task=task))
    result = _counted(state, task, lambda: plan_for(state.index, request, state.provider_health.current, plan=plan))
    return PlanResponse(
        task=result.plan,
        description=result.description,
        steps=tuple(plan_step(step.selection, step) for step in result.steps),
        catalog_version=state.catalog.version,
    )


def select_counted(state: AppState, request: SelectionRequest) -> Selection:
    """The brain's choice for `request` with this process's health snapshot, counted in
    the metrics (a selection by task, tier and provider; a `no_candidate` by constraint)."""
    selection = _counted(state, request.task, lambda: select(state.index, request, state.provider_health.current))
    state.metrics.selections.labels(selection.task, selection.tier_used, selection.model.provider).inc()
    return selection


def to_request(body: SelectBody) -> SelectionRequest:
    min_context = body.min_context
    if min_context is None and (body.messages is not None or body.input is not None):
        estimated = estimate_tokens(body.messages if body.messages is not None else body.input)
        min_context = estimated or None
    return SelectionRequest(
        task=body.task,
        tier=body.tier,
        speed=body.speed,
        domains=body.domains,
        domains_required=body.domains_required,
        capabilities=body.capabilities,
        providers_allow=body.providers.allow if body.providers else (),
        providers_deny=body.providers.deny if body.providers else (),
        min_context=min_context,
        allow_downgrade=body.allow_downgrade,
        max_fallbacks=body.fallbacks,
        explain=body.explain,
        model=None if body.model == "auto" else body.model,
    )


def chosen(model: Model) -> ChosenModel:
    return ChosenModel(
        id=model.id,
        provider=model.provider,
        provider_id=model.provider_id,
        modality=model.modality,
        tier=model.tier,
        speed=model.speed,
    )


def ref(model: Model) -> ModelRef:
    return ModelRef(id=model.id, provider=model.provider, provider_id=model.provider_id)


def plan_step(selection: Selection | None, step: PlannedStep) -> PlanStepResponse:
    inputs = tuple({"name": i.name, "source": i.source} for i in step.inputs)
    if selection is None:
        return PlanStepResponse(
            id=step.id,
            task=step.task,
            description=step.description,
            depends_on=step.depends_on,
            inputs=inputs,
            optional=step.optional,
        )
    return PlanStepResponse(
        id=step.id,
        task=step.task,
        description=step.description,
        depends_on=step.depends_on,
        inputs=inputs,
        model=chosen(selection.model),
        fallbacks=tuple(ref(m) for m in selection.fallbacks),
        optional=step.optional,
        notes=selection.notes,
        explain=selection.explain,
    )


def _decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    try:
        return decode(raw, decoder)
    except Unprocessable as exc:
        raise _with_allowed_values(exc) from None


def select_body_from(fields: Mapping[str, Any]) -> SelectBody:
    """The select-model constraints from fields another body carried (chat's extension
    fields): a bad one is the same 422 as in a select-model body."""
    try:
        return msgspec.convert(fields, SelectBody)
    except msgspec.ValidationError as exc:
        raise _with_allowed_values(unprocessable(exc)) from None


def _with_allowed_values(exc: Unprocessable) -> Unprocessable:
    root = (exc.param or "").split(".")[0].split("[")[0]
    allowed = _ALLOWED.get(root)
    if allowed is not None and "Invalid enum value" in exc.message:
        exc.message += f"; allowed values: {', '.join(allowed)}"
    return exc


def _counted(state: AppState, task: str, question: Callable[[], T]) -> T:
    try:
        return question()
    except NoCandidate as exc:
        state.metrics.selection_failures.labels(_task_label(state, task), exc.constraint).inc()
        raise


def _task_label(state: AppState, task: str) -> str:
    """Metric labels stay bounded: a task name is used only if the catalog knows it."""
    return task if task in state.catalog.tasks or task in state.catalog.plans else "unknown"
