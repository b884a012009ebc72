"""ffmpeg and ffprobe run below the worker's CPU priority, so a burst of media jobs ending
together does not hold up the interactive chain on the same cores (the media_isolation
benchmark)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from workers import _ffmpeg

# Raw samples in, raw samples out: ffmpeg waits on stdin for as long as the source does.
PASS_THROUGH = ["-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "s16le", "pipe:1"]


def _children() -> set[int]:
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


async def test_ffmpeg_runs_below_the_workers_priority() -> None:
    before = _children()
    release = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        yield b"\0" * 1600
        await release.wait()

    async def run() -> bytes:
        out = bytearray()
        async for chunk in _ffmpeg.filtered(PASS_THROUGH, source()):
            out += chunk
        return bytes(out)

    expected = min(os.getpriority(os.PRIO_PROCESS, 0) + _ffmpeg.MEDIA_TOOL_NICENESS, 19)
    running = asyncio.create_task(run())
    seen: list[int] = []
    try:
        # Polled: the priority is lowered just after the spawn, which this task may see first.
        for _ in range(300):
            seen = [os.getpriority(os.PRIO_PROCESS, pid) for pid in _children() - before]
            if seen == [expected]:
                break
            await asyncio.sleep(0.01)
        assert seen == [expected]
        assert _ffmpeg.MEDIA_TOOL_NICENESS > 0
    finally:
        release.set()
    assert await asyncio.wait_for(running, 10) == b"\0" * 1600
