"""Closing nested async generators when their consumer stops early.

Leaving an `async for` (an exception, a cancel, an `aclose()` from outside) does not close the
generator it was reading: that waits for the garbage collector. For media pipelines that
means an ffmpeg process or an HTTP response left open until then, so every stage here reads
its source through `closing`, which closes it as soon as the stage ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


@asynccontextmanager
async def closing(source: AsyncIterable[T]) -> AsyncIterator[AsyncIterator[T]]:
    iterator = aiter(source)
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
