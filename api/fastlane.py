"""A pure-ASGI lane for the gateway's hottest routes: select-model and chat completions.

FastAPI's per-request machinery (routing through the included routers, Request and
Response objects, the exception middleware and exit stack, and for a stream Starlette's
StreamingResponse with its task group) costs several times what selecting a model does
(~15 µs), and ~0.7 ms on the path of a chat's first token. This middleware, the innermost
one, answers the routes given to it before that machinery runs, with the handler the
FastAPI route also uses, so the OpenAPI document, the answers and the errors stay the same.
It still runs inside the observability middleware (request id, metrics, access log) and
FastAPI's error middleware (an unexpected exception is a 500 envelope there, as for any
route).

Every lane route authenticates before reading the body, as the FastAPI routes do. A route
that waits on a job (`watch_client=True`) is also told when its client goes away: uvicorn
implements ASGI spec 2.3, where `send` to a gone client does not fail, so the only news of
it is `http.disconnect` from `receive`. The handler is then cancelled, and cancels its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import authenticate
from api.body import collect_body, encode
from api.errors import APIError, redis_unavailable
from api.state import AppState

log = logging.getLogger("mpc.api")
T = TypeVar("T")
RawHeaders = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class LaneCall:
    """An authenticated request whose body has been read."""

    scope: Scope
    owner: str  # the caller's API-key digest
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole JSON answer, status 200."""

    body: bytes
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
        except APIError as exc:
            await _send_error(send, exc)
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("redis unavailable: %s", type(exc).__name__)  # as the app's handler logs it
            await _send_error(send, redis_unavailable())
            return
        except ClientGone:
            return
        if isinstance(answer, Answer):
            await _send_whole(send, 200, _raw(answer.headers), answer.body)
        else:
            await _send_stream(send, receive, answer)

    async def _answer(self, lane: Lane, scope: Scope, receive: Receive) -> Answer | EventStream:
        state: AppState = scope["app"].state.mpc
        owner = authenticate(header(scope, b"authorization"), state.settings.api_key_hashes)
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


async def _send_error(send: Send, exc: APIError) -> None:
    await _send_whole(send, exc.status, _raw(exc.headers), encode(exc.envelope()))


async def _send_whole(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_stream(send: Send, receive: Receive, stream: EventStream) -> None:
    headers = [*_raw(stream.headers), (b"content-type", b"text/event-stream; charset=utf-8")]
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
