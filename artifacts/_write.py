"""How a write proceeds, the same for every backend; the backend supplies a `BlobSink`.

1. Read the first bytes and settle the content type, before the backend creates anything, so a
   refused stream leaves no trace.
2. Stream every chunk into the sink (size and sha256 counted on the way, the cap enforced).
3. Finish the blob, then commit the record that names it: from that moment the artifact exists.
   Metadata given as a function is asked for here, once every byte has gone through (an audio
   duration is known only at the end of its stream).
4. On any failure, including cancellation, discard what is unfinished and re-raise unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol

from artifacts._ingest import Ingest
from artifacts._record import Record
from artifacts.model import MetadataSource


class BlobSink(Protocol):
    async def add(self, chunk: bytes) -> None: ...

    async def finish(self, sha256: str) -> str:
        """Make the blob complete and durable; return its name beside the record."""
        ...

    async def commit(self, record: Record) -> None:
        """Store the record atomically (the artifact now exists) and drop superseded blobs."""
        ...

    async def discard(self) -> None:
        """After a failure at any step: remove what is unfinished, never raise."""
        ...


async def write_artifact(
    begin: Callable[[str], Awaitable[BlobSink]],
    chunks: AsyncIterable[bytes],
    *,
    job_id: str,
    name: str,
    expires_at: float,
    content_type: str | None,
    metadata: MetadataSource,
    max_bytes: int | None,
    clock: Callable[[], float],
) -> Record:
    """`begin(content_type)` opens the backend's sink once the type is settled."""
    async with Ingest(chunks, declared=content_type, max_bytes=max_bytes) as ingest:
        resolved = await ingest.start()
        sink = await begin(resolved)
        try:
            async for chunk in ingest.chunks():
                await sink.add(chunk)
            blob = await sink.finish(ingest.sha256)
            record = Record(
                job_id=job_id,
                name=name,
                blob=blob,
                content_type=resolved,
                bytes=ingest.size,
                sha256=ingest.sha256,
                created_at=clock(),
                expires_at=expires_at,
                metadata=metadata() if callable(metadata) else metadata,
            )
            await sink.commit(record)
        except BaseException:
            # Shielded: a cancelled writer still cleans up after itself.
            await asyncio.shield(sink.discard())
            raise
    return record
