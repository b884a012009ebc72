"""`GET /api/models`, `GET /api/models/{id}`, `GET /api/tasks`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api import catalog_views
from api.deps import Owner, State
from api.responses import MsgspecResponse

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/models")
async def list_models(
    state: State,
    _: Owner,
    task: str | None = None,
    modality: str | None = None,
    tier: str | None = None,
    provider: str | None = None,
) -> Response:
    body = catalog_views.list_models(state.catalog, task=task, modality=modality, tier=tier, provider=provider)
    return MsgspecResponse(body)


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, state: State, _: Owner) -> Response:
    return MsgspecResponse(catalog_views.get_model(state.catalog, model_id))


@router.get("/tasks")
async def list_tasks(state: State, _: Owner) -> Response:
    return MsgspecResponse(catalog_views.list_tasks(state.catalog))
