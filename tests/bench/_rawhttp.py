"""A minimal HTTP/1.1 client on asyncio streams, for load generation only.

Why not httpx: on these machines an `httpx.AsyncClient` (httpx 0.28.1, httpcore 1.0.9) is
the bottleneck long before the gateway is: with 32 concurrent requests it tops out at
~130-190 requests/s while the gateway idles at 9-23 % of a core (encode/httpx#3215), and
without `sniffio` installed httpcore retries a failing `import sniffio` on every request
(encode/httpcore#1103). This client costs a few tens of microseconds per request, so what
is measured is the server.

It speaks only what the benchmarks need: keep-alive requests with Content-Length bodies,
responses with Content-Length or chunked bodies, and Server-Sent Events streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass


def request_bytes(method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Head:
    status: int
    headers: dict[str, str]  # lower-cased names

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()


async def read_head(reader: asyncio.StreamReader) -> Head:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Head(status=int(status_line.split(" ", 2)[1]), headers=headers)


async def read_response(reader: asyncio.StreamReader) -> tuple[Head, bytes]:
    """One whole response on a keep-alive connection."""
    head = await read_head(reader)
    if head.chunked:
        body = b"".join([chunk async for chunk in _chunks(reader)])
    else:
        body = await reader.readexactly(int(head.headers.get("content-length", "0")))
    return head, body


async def body_pieces(reader: asyncio.StreamReader, head: Head) -> AsyncIterator[bytes]:
    """A response body as it arrives (chunked or Content-Length), to its end."""
    if head.chunked:
        async for chunk in _chunks(reader):
            yield chunk
        return
    left = int(head.headers.get("content-length", "0"))
    while left:
        data = await reader.read(min(left, 1 << 20))
        if not data:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(data)
        yield data


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        yield (await reader.readexactly(size + 2))[:-2]


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str
    id: str | None


async def sse_events(reader: asyncio.StreamReader, head: Head) -> AsyncIterator[SSEEvent]:
    """Events of an SSE response body until the server ends it (comments are skipped)."""
    pending = b""

    async def pieces() -> AsyncIterator[bytes]:
        if head.chunked:
            async for chunk in _chunks(reader):
                yield chunk
        else:
            while data := await reader.read(65536):
                yield data

    async for piece in pieces():
        pending += piece
        while b"\n\n" in pending:
            frame, pending = pending.split(b"\n\n", 1)
            event = _parse_frame(frame.decode())
            if event is not None:
                yield event


def _parse_frame(frame: str) -> SSEEvent | None:
    event, data, event_id = "message", [], None
    for line in frame.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    if not data and event == "message":
        return None
    return SSEEvent(event=event, data="\n".join(data), id=event_id)
