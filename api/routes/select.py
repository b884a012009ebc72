"""`POST /api/select-model` and `POST /api/orchestrate`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import select as service
from api.body import encode, read_body
from api.deps import Owner, State, caller

router = APIRouter(prefix="/api", tags=["brain"])


@router.post("/select-model")
async def select_model(request: Request) -> Response:
    # The gateway's hot synchronous path: no FastAPI dependencies to solve (see api/deps.py).
    state, _ = caller(request)
    raw = await read_body(request, state.settings.max_body_bytes)
    return Response(encode(service.select_model(state, raw)), media_type="application/json")


@router.post("/orchestrate")
async def orchestrate(request: Request, state: State, _: Owner) -> Response:
    raw = await read_body(request, state.settings.max_body_bytes)
    return Response(encode(service.orchestrate(state, raw)), media_type="application/json")
