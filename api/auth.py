"""Bearer API keys: who is calling (authentication), and may this key call this route (scopes).

Keys are known by their SHA-256 digest (`api.keyring`), looked up in a dict. Timing of that
look-up can only tell an attacker about digests of keys they already hold, never about a
key they do not: finding a key from its digest is a preimage search.

Each route needs one scope, found from its path template in `ROUTE_SCOPES` (one table, so
what a scope covers is read in one place; `tests/api/test_scopes.py` checks that every
authenticated route has one).
"""

from __future__ import annotations

import time

from starlette.types import Scope

from api.errors import Forbidden, Unauthorized
from api.keyring import Caller, KeyRing
from api.middleware import RESPONSE_HEADERS
from api.state import AppState
from queues.settings import hash_api_key

# Path template prefix -> the scope its routes need; the first match counts.
ROUTE_SCOPES: tuple[tuple[str, str], ...] = (
    ("/api/select-model", "select"),
    ("/api/orchestrate", "select"),
    ("/api/models", "select"),
    ("/api/tasks", "select"),
    ("/api/chat/", "chat"),
    ("/api/completions", "chat"),
    ("/api/embeddings", "chat"),
    ("/api/jobs", "jobs"),
    ("/api/webhooks/", "jobs"),
    ("/api/images/", "media"),
    ("/api/audio/", "media"),
    ("/api/videos", "media"),
    ("/api/files", "media"),
    ("/api/admin/", "admin"),
)
_scope_of_route: dict[str, str] = {}


def authenticate(authorization: str | None, keyring: KeyRing) -> Caller:
    """The caller's key, or 401."""
    if not authorization:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <key>'.")
    found = keyring.find(hash_api_key(key.strip()))
    if found is None:
        raise Unauthorized("Invalid API key.")
    return found


def required_scope(route_path: str) -> str:
    scope = _scope_of_route.get(route_path)
    if scope is None:
        scope = next((s for prefix, s in ROUTE_SCOPES if route_path.startswith(prefix)), None)
        if scope is None:
            raise LookupError(f"no scope is declared for the route {route_path} (api/auth.py ROUTE_SCOPES)")
        _scope_of_route[route_path] = scope
    return scope


def authorize(caller: Caller, route_path: str) -> None:
    """403 unless the caller's key has the scope the route needs."""
    scope = required_scope(route_path)
    if scope not in caller.scopes:
        raise Forbidden(
            f"This API key does not have the '{scope}' scope, which {route_path} needs.",
            code="missing_scope",
        )


async def admit(state: AppState, authorization: str | None, scope: Scope) -> Caller:
    """Authenticate and authorize a request (401, 403), count it against its key's requests
    per minute (429), and have its answer carry the key's RateLimit headers."""
    caller = authenticate(authorization, state.keyring)
    authorize(caller, scope["route"].path)
    now = time.time()
    state.keyring.note_use(caller, now)
    limits = state.limiter.state_of(caller)
    if limits is not None:
        scope.setdefault("state", {})[RESPONSE_HEADERS] = limits.headers
        if not limits.spend_leased(now):  # the usual case spends a lease here, no await
            await state.limiter.take_request(caller, limits, now)
    return caller
