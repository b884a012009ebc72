"""A pure-ASGI lane for the gateway's hottest routes: select-model and chat completions.

FastAPI's per-request machinery (routing through the included routers, Request and
Response objects, the exception middleware and exit stack, and for a stream Starlette's
StreamingResponse with its task group) costs several times what selecting a model does
(~15 µs), and ~0.7 ms on the path of a chat's first token. This middleware, the innermost
one, answers the routes given to it before that machinery runs, with the handler the
FastAPI route also uses, so the OpenAPI document, the answers and the errors stay the same
(an expected error is answered through `api.errors.to_api_error`, as the app's handlers
do). It still runs inside the observability middleware (request id, metrics, access log)
and FastAPI's error middleware (an unexpected exception is a 500 envelope there, as for
any route).

Every lane route authenticates before reading the body, as the FastAPI routes do. A route
that waits on a job (`watch_client=True`) is also told when its client goes away: uvicorn
implements ASGI spec 2.3, where `send` to a gone client does not fail, so the only news of
it is `http.disconnect` from `receive`. The handler is then cancelled, and cancels its job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import admit
from api.body import collect_body
from api.errors import EXPECTED_ERRORS, to_api_error
from api.responses import JSON_CONTENT_TYPE, error_response
from api.sse import SSE_CONTENT_TYPE
from api.state import AppState

T = TypeVar("T")
RawHeaders = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class LaneCall:
    """An authenticated request whose body has been read."""

    scope: Scope
    owner: str  # whose data the caller's key reaches (api.keyring.Caller.owner)
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole JSON answer, status 200: `content` as msgspec encodes it."""

    content: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventStream:
    """A `text/event-stream` answer: status 200 and its headers now, its frames as they come."""

    frames: AsyncGenerator[bytes, None]
    headers: Mapping[str, str] = field(default_factory=dict)


LaneHandler = Callable[[AppState, LaneCall], Awaitable[Answer | EventStream]]


@dataclass(frozen=True, slots=True)
class Lane:
    handler: LaneHandler
    watch_client: bool = False


@dataclass(frozen=True, slots=True)
class LaneRoute:
    """What the observability middleware reads from `scope["route"]`: the path template."""

    path: str


class ClientGone(Exception):
    """The client disconnected before its answer was complete."""


class FastLane:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Lane]) -> None:
        self.app = app
        self.routes = {key: (lane, LaneRoute(key[1])) for key, lane in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.routes.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" else None
        if found is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        lane, scope["route"] = found
        try:
            answer = await self._answer(lane, scope, receive)
        except EXPECTED_ERRORS as exc:
            await error_response(to_api_error(exc))(scope, receive, send)
            return
        except ClientGone:
            return
        if isinstance(answer, Answer):
            await _send_json(send, _raw(answer.headers), msgspec.json.encode(answer.content))
        else:
            await _send_stream(send, receive, answer)

    async def _answer(self, lane: Lane, scope: Scope, receive: Receive) -> Answer | EventStream:
        state: AppState = scope["app"].state.mpc
        owner = (await admit(state, header(scope, b"authorization"), scope)).owner
        limit = state.settings.max_body_bytes
        body = await collect_body(body_chunks(receive), header(scope, b"content-length"), limit)
        work = lane.handler(state, LaneCall(scope, owner, body))
        if not lane.watch_client:
            return await work
        return await unless_client_leaves(work, receive)


async def unless_client_leaves(work: Awaitable[T], receive: Receive) -> T:
    """`work`'s result, or ClientGone once the client has disconnected (`work` cancelled)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not gone.done():
            gone.cancel()
    if gone.done() and not gone.cancelled() and task.cancelled():
        raise ClientGone
    return task.result()


async def _disconnected(receive: Receive) -> None:
    """Return when the client has gone (the request body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _raw(headers: Mapping[str, str]) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def _send_json(send: Send, headers: RawHeaders, body: bytes) -> None:
    """A 200 JSON answer: what `MsgspecResponse` sends, without building one (the hot path)."""
    headers += [(b"content-type", JSON_CONTENT_TYPE), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_stream(send: Send, receive: Receive, stream: EventStream) -> None:
    headers = [*_raw(stream.headers), (b"content-type", SSE_CONTENT_TYPE)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def pump() -> None:
        async for frames in stream.frames:
            await send({"type": "http.response.body", "body": frames, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    try:
        with contextlib.suppress(ClientGone):  # nobody to send the rest to; the job is canceled
            await unless_client_leaves(pump(), receive)
    finally:
        # A generator left mid-way runs its clean-up (the job's cancel) now, not at GC.
        await stream.frames.aclose()


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
