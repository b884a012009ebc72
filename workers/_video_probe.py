"""A video's duration and resolution, read from the bytes as they stream into the store: no
second read of the artifact and no temporary file.

An MP4's `moov` box gives them (workers/_mp4_info.py), at a few microseconds of CPU; ffprobe
(~57 ms of CPU, a process) is the fallback for what that walk cannot read. It is started only
then, fed the bytes held so far: everything before the first `mdat`, which is small (`ftyp`,
a capped `moov`). A walk that fails after `mdat` went past (a trailing `moov` it cannot read)
has nothing to replay: the video is then stored without metadata. ffprobe finds a `moov`
wherever it is reading a pipe; it may stop reading early, after which the stream goes on
without it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator

from artifacts import ArtifactMetadata
from workers import _ffmpeg
from workers._mp4_info import MOOV_CAP, Mp4Walker
from workers._streams import closing

# Bytes held for a replay to ffprobe, at most: the head before `mdat` is a `moov` and a few small boxes.
HOLD_CAP = MOOV_CAP + 1024 * 1024
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
    """`tee(chunks)` passes the chunks on and reads them; `metadata()` (the store's metadata
    callable, called once the content was read) is what was found, or None."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reading = True
        self._found: ArtifactMetadata | None = None
        self._walker = Mp4Walker()
        self._held: list[bytes] | None = []  # None: past what may be replayed
        self._held_bytes = 0
        self.probed = False  # ffprobe was needed

    def metadata(self) -> ArtifactMetadata | None:
        return self._found

    async def tee(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        probe: asyncio.Task[ArtifactMetadata] | None = None
        try:
            async with closing(chunks) as source:
                async for chunk in source:
                    if probe is None:
                        self._walk(chunk)
                        if self._walker.failed and self._held is not None:
                            probe = self._start_probe()
                    elif self._reading:
                        self._queue.put_nowait(chunk)
                    yield chunk
            info = self._walker.info
            if info is not None:
                self._found = ArtifactMetadata(duration_s=info.duration_s, width=info.width, height=info.height)
                return
            if probe is None and self._held is not None:
                probe = self._start_probe()  # the stream ended before any `mdat`: let ffprobe say
            if probe is None:
                return
            self._queue.put_nowait(None)
            with contextlib.suppress(_ffmpeg.MediaToolError, TimeoutError, ValueError, KeyError, TypeError):
                self._found = await asyncio.wait_for(asyncio.shield(probe), PROBE_WAIT_S)
        finally:
            if probe is not None:
                probe.cancel()
                await asyncio.gather(probe, return_exceptions=True)

    def _walk(self, chunk: bytes) -> None:
        if not self._walker.finished:
            self._walker.feed(chunk)
        if self._held is None:
            return
        self._held.append(chunk)
        self._held_bytes += len(chunk)
        walker = self._walker
        if walker.info is not None or (walker.past_head and not walker.failed) or self._held_bytes > HOLD_CAP:
            self._held = None

    def _start_probe(self) -> asyncio.Task[ArtifactMetadata]:
        assert self._held is not None
        self.probed = True
        for chunk in self._held:
            self._queue.put_nowait(chunk)
        self._held = None
        return asyncio.create_task(self._probe())

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
