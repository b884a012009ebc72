"""`POST /api/select-model` and `POST /api/orchestrate`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import plan_service, selection_views
from api.body import read_body
from api.deps import Owner, State, caller
from api.fastlane import Answer, LaneCall
from api.middleware import request_id_of
from api.responses import MsgspecResponse
from api.routes.jobs import SUBMIT_HEADERS, submitted
from api.state import AppState

router = APIRouter(prefix="/api", tags=["brain"])


@router.post("/select-model")
async def select_model(request: Request) -> Response:
    # Served by `select_model_lane` (api/fastlane.py); declared here for the OpenAPI
    # document, and serving requests the lane passes on (an app mounted under a root path).
    state, _ = await caller(request)
    raw = await read_body(request, state.settings.max_body_bytes)
    return MsgspecResponse(selection_views.select_model(state, raw))


async def select_model_lane(state: AppState, call: LaneCall) -> Answer:
    """The same exchange as `select_model`, in pure ASGI (authenticated, body read)."""
    return Answer(selection_views.select_model(state, call.body))


@router.post("/orchestrate", openapi_extra={"parameters": SUBMIT_HEADERS})
async def orchestrate(request: Request, state: State, owner: Owner) -> Response:
    """The plan with a model per step; with `"execute": true`, a plan job (202, like
    `POST /api/jobs`, `Prefer: wait=N` and `Idempotency-Key` included)."""
    raw = await read_body(request, state.settings.max_body_bytes)
    body = selection_views.orchestrate_body(raw)
    if not body.execute:
        plan = plan_service.previewed(state, body)
        return MsgspecResponse(selection_views.orchestrate(state, body, plan))
    record, created = await plan_service.submit_plan(
        state,
        owner,
        body,
        idempotency_key=request.headers.get("idempotency-key"),
        request_id=request_id_of(request.scope),
    )
    return await submitted(state, request, record, created)
