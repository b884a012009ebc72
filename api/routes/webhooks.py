"""`GET /api/webhooks/secret`, `POST /api/webhooks/secret/rotate`: the caller's key's signing secret."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api import webhook_service
from api.deps import Owner, State
from api.responses import MsgspecResponse

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

# A secret in an answer must not be kept by a cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/secret")
async def get_secret(state: State, owner: Owner) -> Response:
    return MsgspecResponse(await webhook_service.signing_secret(state, owner), headers=_NO_STORE)


@router.post("/secret/rotate")
async def rotate_secret(state: State, owner: Owner) -> Response:
    return MsgspecResponse(await webhook_service.rotate_signing_secret(state, owner), headers=_NO_STORE)
