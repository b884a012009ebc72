"""How a worker reads LiteLLM's streamed answer: `LiteLLMClient.chat_stream` (httpx-sse)
and `openai_chunks`, against a real HTTP server on a socket that writes the SSE bytes
given, in the pieces given, when the test lets it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from workers.chat_handler import StreamBroken, openai_chunks
from workers.litellm import LiteLLMClient

SSE = "text/event-stream"


@asynccontextmanager
async def upstream(
    pieces: Sequence[bytes], *, content_type: str = SSE, gates: dict[int, asyncio.Event] | None = None
) -> AsyncIterator[LiteLLMClient]:
    """A server answering any request with `pieces`, each written and flushed on its own;
    piece i waits for `gates[i]` first."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
        writer.write(head.encode())
        for i, piece in enumerate(pieces):
            if gates and i in gates:
                await gates[i].wait()
            writer.write(piece)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    try:
        yield LiteLLMClient(http)
    finally:
        await http.aclose()
        server.close()
        await server.wait_closed()


async def chunks_of(*pieces: bytes, content_type: str = SSE) -> list[dict[str, Any]]:
    async with upstream(pieces, content_type=content_type) as litellm, litellm.chat_stream({}) as events:
        return [chunk async for chunk in openai_chunks(events)]


async def test_multi_line_data_is_joined_with_newlines() -> None:
    # JSON may be split over several `data:` lines; the spec joins them with "\n".
    assert await chunks_of(b'data: {"a":\ndata: 1,\ndata: "b": "x"}\n\n') == [{"a": 1, "b": "x"}]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
async def test_every_line_end_of_the_spec(end: bytes) -> None:
    stream = b'data: {"n": 1}' + end + end + b'data: {"n": 2}' + end + end + b"data: [DONE]" + end + end
    assert await chunks_of(stream) == [{"n": 1}, {"n": 2}]


async def test_comments_fields_and_a_missing_space_after_the_colon() -> None:
    stream = (
        b": keep-alive\n\n"  # a comment: no event
        b'event: message\nid: 7\nretry: 1000\ndata:{"n": 1}\n\n'  # no space after "data:"
        b"data: [DONE]\n\n"
    )
    assert await chunks_of(stream) == [{"n": 1}]


async def test_unicode_line_separators_inside_a_chunk_do_not_split_it() -> None:
    # Unescaped U+2028 / U+0085 are valid in JSON strings, and are not SSE line ends.
    text = "one\u2028two\x85three"
    stream = b'data: {"t": "' + text.encode() + b'"}\n\ndata: [DONE]\n\n'
    assert await chunks_of(stream) == [{"t": text}]


async def test_an_event_split_across_writes_is_read_whole() -> None:
    assert await chunks_of(b"da", b'ta: {"n"', b": 1}\r", b"\n\r\n", b"data: [DONE]\n\n") == [{"n": 1}]


async def test_done_ends_the_stream() -> None:
    assert await chunks_of(b'data: {"n": 1}\n\ndata: [DONE]\n\ndata: {"n": 2}\n\n') == [{"n": 1}]


async def test_a_malformed_chunk_breaks_the_stream() -> None:
    with pytest.raises(StreamBroken, match="malformed"):
        await chunks_of(b"data: {not json\n\n")


async def test_an_answer_that_is_not_an_event_stream_breaks_the_stream() -> None:
    with pytest.raises(StreamBroken, match="not server-sent events"):
        await chunks_of(b'{"n": 1}', content_type="application/json")


async def test_each_chunk_is_handed_on_as_soon_as_its_event_is_complete() -> None:
    # The second event is written only once the first has been read: a parser that waited
    # for more bytes than one event's would never get it.
    first_read = asyncio.Event()
    pieces = [b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\ndata: [DONE]\n\n']
    seen: list[dict[str, Any]] = []
    async with upstream(pieces, gates={1: first_read}) as litellm, litellm.chat_stream({}) as events:
        async with asyncio.timeout(5):
            async for chunk in openai_chunks(events):
                seen.append(chunk)
                first_read.set()
    assert seen == [{"n": 1}, {"n": 2}]
