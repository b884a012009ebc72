"""FastAPI dependencies as `Annotated` aliases, so routes stay one-liners."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import authenticate
from api.state import AppState


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in a thread pool, a hop per request.
    state: AppState = request.app.state.mpc
    return state


State = Annotated[AppState, Depends(get_state)]


async def require_owner(request: Request, state: State) -> str:
    """The caller's API-key digest; 401 unless a configured key was sent."""
    return authenticate(request.headers.get("authorization"), state.settings.api_key_hashes)


Owner = Annotated[str, Depends(require_owner)]
