"""A video's duration and resolution, read by ffprobe from the bytes as they stream into the
store: no second read of the artifact and no temporary file. ffprobe finds an MP4's `moov`
box wherever it is (front or back) reading a pipe; it may stop reading early, after which the
stream goes on without it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator

from artifacts import ArtifactMetadata
from workers import _ffmpeg
from workers._streams import closing

PROBE_WAIT_S = 30.0
_ARGS = [
    "-v",
    "error",
    "-select_streams",
    "v:0",
    "-show_entries",
    "format=duration:stream=width,height,duration",
    "-of",
    "json",
    "-i",
    "pipe:0",
]


class VideoProbe:
    """`tee(chunks)` passes the chunks on and feeds ffprobe; `metadata()` (the store's metadata
    callable, called once the content was read) is what ffprobe found, or None."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reading = True
        self._found: ArtifactMetadata | None = None

    def metadata(self) -> ArtifactMetadata | None:
        return self._found

    async def tee(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        probe = asyncio.create_task(self._probe())
        try:
            async with closing(chunks) as source:
                async for chunk in source:
                    if self._reading:
                        self._queue.put_nowait(chunk)
                    yield chunk
            self._queue.put_nowait(None)
            with contextlib.suppress(_ffmpeg.MediaToolError, TimeoutError, ValueError, KeyError, TypeError):
                self._found = await asyncio.wait_for(asyncio.shield(probe), PROBE_WAIT_S)
        finally:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)

    async def _source(self) -> AsyncIterator[bytes]:
        try:
            while (chunk := await self._queue.get()) is not None:
                yield chunk
        finally:
            self._reading = False  # ffprobe has what it needs (or failed): stop queueing
            while not self._queue.empty():
                self._queue.get_nowait()

    async def _probe(self) -> ArtifactMetadata:
        out = bytearray()
        async with closing(_ffmpeg.filtered(_ARGS, self._source(), tool="ffprobe")) as answer:
            async for piece in answer:
                out += piece
        return parse(bytes(out))


def parse(out: bytes) -> ArtifactMetadata:
    found = json.loads(out or b"{}")
    streams = found.get("streams") or []
    if not streams:
        raise ValueError("no video stream")
    stream = streams[0]
    duration = found.get("format", {}).get("duration") or stream.get("duration")
    return ArtifactMetadata(
        duration_s=round(float(duration), 3) if duration is not None else None,
        width=int(stream["width"]),
        height=int(stream["height"]),
    )
