"""FastAPI dependencies as `Annotated` aliases, so routes stay one-liners.

The hottest routes (`POST /api/jobs`, `POST /api/chat/completions`, and `POST
/api/select-model` where the fast lane passes it on) await `caller()` instead of declaring
`State` and `Owner`: FastAPI's solving of those dependencies (and of Header()
parameters) measured ~200 µs per request there, more than a whole job submission to Redis.
Both forms run the same checks in the same order (authentication before the body is read).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import admit
from api.state import AppState


def app_state(request: Request) -> AppState:
    """What one gateway process holds (set by the app's lifespan)."""
    state: AppState = request.app.state.mpc
    return state


async def caller(request: Request) -> tuple[AppState, str]:
    """`State` and `Owner` as one plain call: the state and the caller's owner id (401 unless
    an accepted key was sent, 403 unless it has the route's scope)."""
    state = app_state(request)
    return state, (await admit(state, request.headers.get("authorization"), request.scope)).owner


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in a thread pool, a hop per request.
    return app_state(request)


State = Annotated[AppState, Depends(get_state)]


async def require_owner(request: Request, state: State) -> str:
    """The caller's owner id; 401 unless an accepted key was sent, 403 unless it has the
    route's scope (`api.auth.ROUTE_SCOPES`)."""
    return (await admit(state, request.headers.get("authorization"), request.scope)).owner


Owner = Annotated[str, Depends(require_owner)]
