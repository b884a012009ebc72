"""One pass over the bytes being stored: size cap, content type check, size and sha256.

Both backends write through an `Ingest`, so a stream is read once, never held whole in memory,
and refused (type mismatch, too large) by the same rules wherever it is going.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from types import TracebackType

from artifacts._sniff import SNIFF_BYTES, resolve_content_type
from artifacts.errors import ArtifactTooLarge


async def _close(iterator: AsyncIterator[bytes]) -> None:
    # Async generators hold resources (an HTTP request body, a file) until closed, and leaving
    # an `async for` early does not close them; plain iterators have nothing to close.
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def limit_size(source: AsyncIterable[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    """Pass `source` through, raising `ArtifactTooLarge` as soon as more than `max_bytes` have
    arrived: the chunk that crosses the cap is not passed on, nothing more is read, and the
    source is closed (for uploads, whose declared length cannot be trusted)."""
    iterator = aiter(source)
    seen = 0
    try:
        async for chunk in iterator:
            seen += len(chunk)
            if seen > max_bytes:
                raise ArtifactTooLarge(max_bytes)
            yield chunk
    finally:
        await _close(iterator)


class Ingest:
    """Use as `async with Ingest(...) as ingest`: `await ingest.start()` reads just enough to
    decide the content type (before the backend creates anything), then iterate
    `ingest.chunks()`; afterwards `size` and `sha256` describe what went through. Leaving the
    block closes the source, so a refused stream is not read further."""

    def __init__(self, source: AsyncIterable[bytes], *, declared: str | None, max_bytes: int | None = None) -> None:
        self._source: AsyncIterator[bytes] = aiter(limit_size(source, max_bytes) if max_bytes is not None else source)
        self._declared = declared
        self._head = b""
        self._ended = False
        self._hash = hashlib.sha256()
        self.size = 0
        self.content_type = ""

    async def __aenter__(self) -> Ingest:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await _close(self._source)

    async def start(self) -> str:
        """Read the first `SNIFF_BYTES` (or the whole stream, if shorter) and return the content
        type to store; raises `ContentTypeMismatch` / `UnsupportedContentType` / `ArtifactTooLarge`."""
        head = bytearray()
        while len(head) < SNIFF_BYTES:
            try:
                head += await anext(self._source)
            except StopAsyncIteration:
                self._ended = True
                break
        self._head = bytes(head)
        self.content_type = resolve_content_type(self._declared, self._head[:SNIFF_BYTES])
        return self.content_type

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._count(self._head)
            self._head = b""
        if not self._ended:
            async for chunk in self._source:
                if chunk:
                    yield self._count(chunk)

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        self._hash.update(chunk)
        return chunk

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()
