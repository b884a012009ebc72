"""Server-sent events as the gateway writes them: the response headers and the frames.

One encoder for every stream we send (a chat's OpenAI chunks, a job's events), so each
frame follows the spec (https://html.spec.whatwg.org/multipage/server-sent-events.html):
a multi-line payload becomes one `data:` line per line, and a frame ends with a blank line.
"""

from __future__ import annotations

# No caching, and no buffering by a proxy in front (nginx reads X-Accel-Buffering).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_MEDIA_TYPE = "text/event-stream"
# The ASGI content-type value: Starlette adds the charset to a `media_type` of text/*.
SSE_CONTENT_TYPE = b"text/event-stream; charset=utf-8"
PING_S = 15  # a comment this often keeps proxies from closing an idle stream


def sse_frame(data: bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """One event: optional `id:` and `event:` lines, then `data` as `data:` lines."""
    head = b""
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    if b"\n" not in data and b"\r" not in data:  # JSON from msgspec: always one line
        return head + b"data: " + data + b"\n\n"
    return head + b"".join(b"data: " + line + b"\n" for line in _lines(data)) + b"\n"


def sse_comment(text: str) -> bytes:
    """A comment line: ignored by clients, it keeps an idle connection open."""
    return b"".join(b": " + line + b"\n" for line in _lines(text.encode())) + b"\n"


def _lines(text: bytes) -> list[bytes]:
    """Split on the spec's line ends (CRLF, LF, CR): one of them inside a line would end it."""
    return text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")


PING = sse_comment("ping")
