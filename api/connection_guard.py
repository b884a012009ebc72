"""Limits on a client's HTTP/1.1 connection that uvicorn's httptools protocol lacks.

uvicorn (with httptools, the fast parser `mpc-api serve` uses) waits forever for a request's
headers, buffers headers of any size, and waits forever for a body that stops arriving: a
few slow or hostile clients could hold every connection slot and as much memory as they
like. uvicorn takes its HTTP protocol class as a public option (`http=`); this subclass adds:

- headers (request line included) must be complete within `header_timeout_s` of the
  connection's start or of the request's first byte: otherwise 408 and the connection closed;
- headers larger than `max_header_bytes`: 431 and closed, counted as bytes arrive so a
  header that never ends is refused before it is buffered whole;
- a body that sends nothing for `body_timeout_s`: 408 (if nothing was answered yet) and the
  connection closed; the app sees the client disconnect.

It uses the parser callbacks uvicorn's protocol defines (`on_message_begin`,
`on_headers_complete`, `on_body`, `on_message_complete`) and its per-connection fields
(`url`, `headers`, `cycle`, `transport`, `loop`); tests/api/test_connection_guard.py checks
each by name, so a uvicorn upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.errors import ErrorBody, ErrorEnvelope
from queues.settings import Settings

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.header_timeout_s, settings.body_timeout_s, settings.max_header_bytes)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving the gateway: its fast event loop and parser, with the
    connection limits above (`mpc-api serve` and the tests that serve the gateway use these)."""
    return {"loop": "uvloop", "http": guarded_protocol(ConnectionLimits.from_settings(settings))}


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with `limits`."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._header_bytes: int | None = None  # counted while a request's headers arrive
        self._deadline: asyncio.TimerHandle | None = None
        self._last_body_at = 0.0
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._header_bytes is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._header_bytes is not None and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, "request_headers_too_large", self._too_large_message())

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_bytes is None:  # the next request on a kept-alive connection
            self._await_headers()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            # Answered by `data_received` once the parser returns; the rest of this message is ignored.
            self._header_bytes = size
            self._refused = True
            return
        self._header_bytes = None
        self._last_body_at = self.loop.time()
        self._arm(self.limits.body_timeout_s, self._body_deadline)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._last_body_at = self.loop.time()  # the deadline moves on lazily (see `_body_deadline`)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        super().on_message_complete()

    # Deadlines

    def _await_headers(self) -> None:
        self._header_bytes = 0
        self._arm(self.limits.header_timeout_s, self._headers_too_slow)

    def _arm(self, delay_s: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        seconds = self.limits.header_timeout_s
        self._refuse(408, "request_timeout", f"The request's headers did not arrive within {seconds:g} seconds.")

    def _body_deadline(self) -> None:
        # Re-armed for the rest of the window rather than on every chunk (cheaper per chunk).
        idle = self.loop.time() - self._last_body_at
        if idle < self.limits.body_timeout_s:
            self._deadline = self.loop.call_later(self.limits.body_timeout_s - idle, self._body_deadline)
            return
        self._deadline = None
        seconds = self.limits.body_timeout_s
        self._refuse(408, "request_timeout", f"The request body sent nothing for {seconds:g} seconds.")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer `status` if no answer is under way on this connection, then close it."""
        self._refused = True
        self._header_bytes = None
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app's own answer, if it comes, goes nowhere
            self.transport.write(_response(status, code, message))
        self.transport.close()

    def _too_large_message(self) -> str:
        return f"The request's line and headers exceed {self.limits.max_header_bytes} bytes."


def _response(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in OpenAI's error envelope, closing the connection."""
    content = msgspec.json.encode(ErrorEnvelope(ErrorBody(message=message, type="invalid_request_error", code=code)))
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
        status,
        _REASONS[status],
        len(content),
    )
    return head + content
