"""Sending an answer with the requested timing and faults, as a raw ASGI response.

A wire module describes *what* to send (a JSON body, or SSE frames tagged head / content /
tail); ``EmulatedResponse`` decides *how*: delays, tokens-per-second pacing, hanging, and the
stream faults. Faults trigger after N content frames, or at the first tail frame if the
answer is shorter, so a faulted stream never carries its terminating frames:

- ``cut_after``: return without finishing the body; uvicorn then closes the connection
  mid-response (the client sees an incomplete chunked body / a short content-length);
- ``truncate_after``: a clean end of the body without the terminating frames;
- ``malformed_after``: one frame of invalid JSON, then a clean end of the body;
- ``error_after``: the provider's in-stream error event, then a clean end;
- ``stall_after``: silence until the client disconnects.

A client disconnect cancels whatever is in progress (the disconnect watcher reads
``receive`` concurrently), so ``hang`` and ``stall_after`` never outlive their client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from starlette.types import Receive, Scope, Send

from sandbox.emulator.behaviour import Behaviour, hang_seconds

FrameKind = Literal["head", "content", "tail"]
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    kind: FrameKind = "content"


def dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sse_data(value: Any, *, event: str | None = None, eol: str = "\n") -> bytes:
    """One SSE event: optional ``event:`` line, ``data:`` line, blank line."""
    head = f"event: {event}{eol}" if event else ""
    return f"{head}data: {json.dumps(value, separators=(',', ':'))}{eol}{eol}".encode()


class EmulatedResponse:
    """An ASGI response that plays a body or a frame list with ``behaviour`` applied."""

    def __init__(
        self,
        *,
        behaviour: Behaviour,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        frames: Sequence[Frame] | None = None,
        media_type: str = JSON_TYPE,
        malformed: bytes = b"",
        stream_error: bytes = b"",
        completion_tokens: int = 0,
    ) -> None:
        self.behaviour = behaviour
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.frames = list(frames) if frames is not None else None
        self.media_type = media_type
        self.malformed = malformed
        self.stream_error = stream_error
        self.completion_tokens = completion_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            await self._respond(send)
            group.cancel_scope.cancel()

    async def _start(self, send: Send, *, content_length: int | None) -> None:
        headers = [(b"content-type", self.media_type.encode())]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})

    async def _respond(self, send: Send) -> None:
        b = self.behaviour
        if b.hang:
            # Never answers; the disconnect watcher cancels this. After the cap uvicorn
            # sees no response and answers 500 itself.
            await anyio.sleep(hang_seconds(b))
            return
        if self.frames is None or self.status >= 400:
            await self._respond_body(send)
        else:
            await self._respond_stream(send, self.frames)

    async def _respond_body(self, send: Send) -> None:
        b = self.behaviour
        body = self.body or b""
        if self.status >= 400:
            await anyio.sleep(b.latency_ms / 1000.0)
            await self._start(send, content_length=len(body))
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await anyio.sleep(b.non_stream_delay_s(self.completion_tokens))
        half = body[: max(1, len(body) // 2)]
        if b.cut_after is not None:
            await self._start(send, content_length=len(body))
            await send({"type": "http.response.body", "body": half, "more_body": True})
            return  # incomplete: uvicorn drops the connection
        if b.stall_after is not None:
            await self._start(send, content_length=len(body))
            await send({"type": "http.response.body", "body": half, "more_body": True})
            await anyio.sleep_forever()
        if b.malformed_after is not None or b.truncate_after is not None:
            body = half
        await self._start(send, content_length=len(body))
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _respond_stream(self, send: Send, frames: list[Frame]) -> None:
        b = self.behaviour
        await anyio.sleep(b.stream_delay_s())
        self.headers.setdefault("cache-control", "no-cache")
        await self._start(send, content_length=None)
        sent = 0
        for frame in frames:
            if frame.kind != "head":
                if await self._fault_point(send, sent, at_tail=frame.kind == "tail"):
                    return
                if frame.kind == "content":
                    if sent > 0:
                        await anyio.sleep(b.token_interval_s())
                    sent += 1
            await send({"type": "http.response.body", "body": frame.data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _fault_point(self, send: Send, sent: int, *, at_tail: bool) -> bool:
        """Apply a stream fault that is due; True when the stream must not continue."""
        b = self.behaviour

        def due(limit: int | None) -> bool:
            return limit is not None and (at_tail or sent >= limit)

        if due(b.cut_after):
            return True  # return without more_body=False: the connection is dropped
        if due(b.stall_after):
            await anyio.sleep_forever()
        faults = ((b.truncate_after, b""), (b.malformed_after, self.malformed), (b.error_after, self.stream_error))
        for limit, data in faults:
            if due(limit):
                await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return True
        return False


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


def json_response(
    value: Any, *, status: int = 200, headers: dict[str, str] | None = None, behaviour: Behaviour | None = None
) -> EmulatedResponse:
    return EmulatedResponse(behaviour=behaviour or Behaviour(), status=status, headers=headers, body=dump(value))
