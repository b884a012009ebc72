"""ffmpeg and ffprobe as streaming filters: bytes in through stdin, bytes out of stdout.

Nothing is held whole in memory or written to a temporary file. A filter that is closed
early (its consumer failed, the job was cancelled) kills its process and reaps it, so a
cancelled job leaves no ffmpeg behind. The tools run `MEDIA_TOOL_NICENESS` below the
worker's own CPU priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence

from workers._streams import closing

READ_BYTES = 64 * 1024
# Raw audio between decoder and encoder: what OpenAI's speech `pcm` format is
# (signed 16-bit little-endian, mono, 24 kHz), so a `pcm` answer needs no encoder at all.
PCM_RATE = 24_000
PCM_BYTES_PER_SECOND = PCM_RATE * 2
PCM_ARGS = ("-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(PCM_RATE))
_STDERR_KEPT = 2000
# ffmpeg and ffprobe run below the other processes' priority: a media worker finishing 16 jobs
# at once starts 16 of them, and at normal priority that burst held up the interactive
# chain on the same cores (chat TTFT p50 2.5x with the media queue full; 1.0x with this;
# the media_isolation benchmark). They still use every idle cycle.
MEDIA_TOOL_NICENESS = 10


def lowered_priority() -> int:
    """The niceness of the tools this process starts: `MEDIA_TOOL_NICENESS` above its own."""
    return min(os.getpriority(os.PRIO_PROCESS, 0) + MEDIA_TOOL_NICENESS, 19)


class MediaToolError(Exception):
    """ffmpeg or ffprobe could not read or write the media (its last words in `detail`)."""

    def __init__(self, tool: str, detail: str) -> None:
        super().__init__(f"{tool} failed: {detail}" if detail else f"{tool} failed")
        self.detail = detail


async def filtered(args: Sequence[str], source: AsyncIterable[bytes], *, tool: str = "ffmpeg") -> AsyncIterator[bytes]:
    """`source` through `tool args` (which must read pipe:0 and write pipe:1)."""
    process = await asyncio.create_subprocess_exec(
        tool,
        "-nostdin" if tool == "ffmpeg" else "-hide_banner",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    with contextlib.suppress(OSError):  # it has already exited: nothing to lower
        os.setpriority(os.PRIO_PROCESS, process.pid, lowered_priority())
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    feeder = asyncio.create_task(_feed(process.stdin, source))
    errors = asyncio.create_task(process.stderr.read())
    finished = False
    try:
        while chunk := await process.stdout.read(READ_BYTES):
            yield chunk
        await feeder  # re-raises the source's failure (a provider error mid-audio)
        code = await process.wait()
        if code != 0:
            raise MediaToolError(tool, (await errors).decode(errors="replace").strip()[-_STDERR_KEPT:])
        finished = True
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        feeder.cancel()
        errors.cancel()
        # Shielded: a cancelled job still reaps its child.
        await asyncio.shield(_reap(process, feeder, errors))


async def _reap(process: asyncio.subprocess.Process, *tasks: asyncio.Task[object]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    await process.wait()


async def _feed(stdin: asyncio.StreamWriter, source: AsyncIterable[bytes]) -> None:
    try:
        async with closing(source) as chunks:
            async for chunk in chunks:
                stdin.write(chunk)
                await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        return  # the tool stopped reading (it failed): its exit code says why
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.close()
            await stdin.wait_closed()


def decode_to_pcm_args() -> list[str]:
    return ["-v", "error", "-i", "pipe:0", *PCM_ARGS, "pipe:1"]


async def image_size(content: bytes) -> tuple[int, int]:
    """(width, height) of an image, by ffprobe."""
    out = bytearray()
    args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height",
        "-of",
        "json",
        "-i",
        "pipe:0",
    ]
    async with closing(filtered(args, _once(content), tool="ffprobe")) as chunks:
        async for chunk in chunks:
            out += chunk
    streams = json.loads(out or b"{}").get("streams") or []
    if not streams:
        raise MediaToolError("ffprobe", "no image stream")
    return int(streams[0]["width"]), int(streams[0]["height"])


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content
