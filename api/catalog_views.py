"""The catalog as the API shows it: OpenAI's model-list shape plus catalog fields.

The list begins with what a platform's model picker should offer (`auto`, the tasks and
plans as `mpc/…` ids: api/task_models.py), then the catalog's models. OpenAI's `created` is
a Unix time; the catalog has no per-model dates, so every entry reports the same fixed time.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.errors import NotFound, Unprocessable
from api.task_models import CATALOG_EPOCH, listed_ids, listed_view
from catalog import Catalog
from catalog.schema import MODALITIES, PROVIDERS, TIERS, Model, Task


def model_view(model: Model) -> dict[str, Any]:
    view: dict[str, Any] = {"id": model.id, "object": "model", "created": CATALOG_EPOCH, "owned_by": model.provider}
    view.update(msgspec.to_builtins(model))
    return view


def task_view(task: Task) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(task)
    return view


def list_models(
    catalog: Catalog,
    *,
    task: str | None = None,
    modality: str | None = None,
    tier: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    _check_filter("task", task, tuple(catalog.tasks))
    _check_filter("modality", modality, MODALITIES)
    _check_filter("tier", tier, TIERS)
    _check_filter("provider", provider, PROVIDERS)
    models = catalog.models_for_task(task) if task else tuple(catalog.models.values())
    picks = [] if provider else listed_ids(catalog, task=task, modality=modality, tier=tier)
    data = picks + [
        model_view(m)
        for m in models
        if (modality is None or m.modality == modality)
        and (tier is None or m.tier == tier)
        and (provider is None or m.provider == provider)
    ]
    return {"object": "list", "data": data}


def get_model(catalog: Catalog, name: str) -> dict[str, Any]:
    listed = listed_view(catalog, name)
    if listed is not None:
        return listed
    model = catalog.resolve(name)
    if model is None:
        raise NotFound(f"The model '{name}' does not exist in the catalog.", code="model_not_found", param="id")
    return model_view(model)


def list_tasks(catalog: Catalog) -> dict[str, Any]:
    tasks = [task_view(t) for t in catalog.tasks.values()]
    plans = [
        {"id": p.id, "description": p.description, "steps": [s.task for s in p.steps], "queue": "batch"}
        for p in catalog.plans.values()
    ]
    return {"object": "list", "data": tasks, "plans": plans}


def _check_filter(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise Unprocessable(
            f"Unknown {name} {value!r}; allowed values: {', '.join(allowed)}.", code="invalid_value", param=name
        )
