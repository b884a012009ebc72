"""An opened artifact: its description, the byte range being read, and the chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

from artifacts.model import Artifact


class ArtifactStream:
    """What `store.open()` returns: everything an HTTP answer needs before its body
    (`artifact.etag`, `length`, `partial`, `content_range`), then the body as chunks.

    The backend has already opened the content, so a missing artifact or an unavailable store
    is raised by `open()`, before any header is sent. Iterate it once; it releases the content
    when the iteration ends, and `aclose()` (or `async with`) releases it if it is never
    iterated to the end, e.g. when the client disconnects."""

    def __init__(
        self,
        artifact: Artifact,
        start: int,
        end: int,
        chunks: AsyncIterator[bytes],
        release: Callable[[], Awaitable[None]],
    ) -> None:
        self.artifact = artifact
        self.start = start
        self.end = end  # inclusive
        self._chunks = chunks
        self._release: Callable[[], Awaitable[None]] | None = release

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def partial(self) -> bool:
        """Whether this is less than the whole artifact (an HTTP 206 rather than a 200)."""
        return self.length != self.artifact.bytes

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.artifact.bytes}"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            await release()

    async def __aenter__(self) -> ArtifactStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
