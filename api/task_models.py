"""Tasks and plans as model ids, for platforms whose UI can only set a model name.

`mpc/<task>` runs the task at its default tier, `mpc/<task>:<tier>` at that tier (listed only
for the tiers the catalog has models of for the task), `mpc/<plan>` names a plan, and `auto`
lets the brain choose for the endpoint's own task. The chat, completions, embeddings and
media endpoints accept them wherever they accept `model`; `GET /api/models` lists them first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.errors import InvalidRequest, NotFound
from catalog import Catalog
from catalog.schema import TIERS, Task

PREFIX = "mpc/"
AUTO = "auto"
CATALOG_EPOCH = 1764288000  # 2025-11-28T00:00:00Z: OpenAI's `created`, the same for every listed id


@dataclass(frozen=True, slots=True)
class TaskModel:
    task: str
    tier: str | None  # None: the task's default


def is_task_model(name: str) -> bool:
    return name.startswith(PREFIX)


def task_model_id(task: str, tier: str | None = None) -> str:
    return f"{PREFIX}{task}" + (f":{tier}" if tier else "")


def parse_task_model(catalog: Catalog, name: str, *, param: str = "model") -> TaskModel:
    """The task (and tier) a `mpc/…` id names: 404 for an unknown task, 400 for a plan (it
    runs as a job, not behind a model endpoint) or an unknown tier."""
    task, _, tier = name[len(PREFIX) :].partition(":")
    if task in catalog.plans:
        raise InvalidRequest(
            f'\'{name[:200]}\' is a plan: run it with POST /api/jobs ({{"task": "{task}"}}), not as a model.',
            code="invalid_value",
            param=param,
        )
    if task not in catalog.tasks:
        raise NotFound(
            f"The model '{name[:200]}' does not exist: task models are {PREFIX}<task>[:<tier>] "
            f"with a task of {', '.join(catalog.tasks)}.",
            code="model_not_found",
            param=param,
        )
    if tier and tier not in TIERS:
        raise InvalidRequest(
            f"Unknown tier '{tier[:50]}' in model '{name[:200]}'; allowed tiers: {', '.join(TIERS)}.",
            code="invalid_value",
            param=param,
        )
    return TaskModel(task=task, tier=tier or None)


def listed_ids(
    catalog: Catalog, *, task: str | None = None, modality: str | None = None, tier: str | None = None
) -> list[dict[str, Any]]:
    """`auto`, every task (bare and per tier) and every plan, as model-list entries, narrowed
    like the catalog's models: by the task, the task's modality, the tier."""
    views: list[dict[str, Any]] = []
    if task is None and tier is None:
        views.append(_auto_view())
    for known in catalog.tasks.values():
        if (task is not None and known.id != task) or (modality is not None and known.modality != modality):
            continue
        tiers = _tiers_with_models(catalog, known.id)
        if tier is None:
            views.append(_task_view(known, None))
        views.extend(_task_view(known, t) for t in tiers if tier is None or t == tier)
    if task is None and modality is None and tier is None:
        views.extend(_plan_view(catalog, plan_id) for plan_id in catalog.plans)
    return views


def listed_view(catalog: Catalog, name: str) -> dict[str, Any] | None:
    """`GET /api/models/{id}` for `auto` or a task model; None for any other name."""
    if name == AUTO:
        return _auto_view()
    if not is_task_model(name):
        return None
    plan = catalog.plans.get(name[len(PREFIX) :])
    if plan is not None:
        return _plan_view(catalog, plan.id)
    chosen = parse_task_model(catalog, name, param="id")
    return _task_view(catalog.tasks[chosen.task], chosen.tier)


def _tiers_with_models(catalog: Catalog, task: str) -> list[str]:
    present = {m.tier for m in catalog.models_for_task(task) if m.enabled}
    return [t for t in TIERS if t in present]


def _entry(model_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CATALOG_EPOCH, "owned_by": "mpc", **fields}


def _auto_view() -> dict[str, Any]:
    return _entry(
        AUTO,
        kind="auto",
        modality="text",
        description="The brain chooses: chat_general on chat endpoints, each media endpoint's own task elsewhere.",
    )


def _task_view(task: Task, tier: str | None) -> dict[str, Any]:
    return _entry(
        task_model_id(task.id, tier),
        kind="task",
        task=task.id,
        modality=task.modality,
        tier=tier or task.default_tier,
        description=task.description,
    )


def _plan_view(catalog: Catalog, plan_id: str) -> dict[str, Any]:
    plan = catalog.plans[plan_id]
    return _entry(
        task_model_id(plan_id),
        kind="plan",
        task=plan_id,
        description=plan.description + " (a plan: run it with POST /api/jobs)",
        steps=[s.task for s in plan.steps],
    )
