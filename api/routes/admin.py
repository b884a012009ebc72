"""`/api/admin/keys`: list, create, update and revoke managed API keys (admin scope)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import key_admin
from api.body import read_body
from api.deps import Owner, State
from api.responses import MsgspecResponse

router = APIRouter(prefix="/api/admin/keys", tags=["admin"])

# A new key in an answer must not be kept by a cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}
_KEY_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.get("")
async def list_keys(state: State, _: Owner) -> Response:
    return MsgspecResponse(await key_admin.listing(state.redis))


@router.post("", status_code=201, openapi_extra=_KEY_BODY)
async def create_key(request: Request, state: State, _: Owner) -> Response:
    raw = await read_body(request, state.settings.max_body_bytes)
    return MsgspecResponse(await key_admin.create(state.redis, raw), status_code=201, headers=_NO_STORE)


@router.patch("/{name}", openapi_extra=_KEY_BODY)
async def update_key(name: str, request: Request, state: State, _: Owner) -> Response:
    raw = await read_body(request, state.settings.max_body_bytes)
    return MsgspecResponse(await key_admin.update(state.redis, name, raw))


@router.delete("/{name}")
async def revoke_key(name: str, state: State, _: Owner) -> Response:
    return MsgspecResponse(await key_admin.revoke(state.redis, name))
