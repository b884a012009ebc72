"""A pure-ASGI lane for the gateway's hottest synchronous route, `POST /api/select-model`.

FastAPI's per-request machinery (routing through the included routers, Request and
Response objects, the exception middleware and exit stack) costs several times what the
selection itself does (~15 µs). This middleware, the innermost one, answers the routes
given to it before that machinery runs, with the handler the FastAPI route also uses, so
the OpenAPI document, the answers and the errors stay the same. It still runs inside the
observability middleware (request id, metrics, access log) and FastAPI's error middleware
(an unexpected exception is a 500 envelope there, as for any route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from api.body import encode
from api.errors import APIError
from api.state import AppState

LaneHandler = Callable[[AppState, Scope, Receive], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class LaneRoute:
    """What the observability middleware reads from `scope["route"]`: the path template."""

    path: str


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], LaneHandler]) -> None:
        self.app = app
        self.routes = {key: (handler, LaneRoute(key[1])) for key, handler in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.routes.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" else None
        if lane is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        handler, scope["route"] = lane
        headers: list[tuple[bytes, bytes]] = []
        try:
            body = await handler(scope["app"].state.mpc, scope, receive)
            status = 200
        except APIError as exc:
            status, body = exc.status, encode(exc.envelope())
            headers = [(name.lower().encode(), value.encode()) for name, value in exc.headers.items()]
        except ClientGone:
            return
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value (`name` in lower case), as Starlette decodes it (latin-1)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives (what Starlette's `Request.stream()` does)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
