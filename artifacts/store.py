"""The one interface both backends (`LocalStore`, `S3Store`) implement.

Workers `write` their outputs; the gateway `describe`s them in job results, `open`s them to
serve `GET` (with `Range`), and checks signed links with `verify_signed_url`. One periodic
`sweep` deletes what has expired and what dead writers left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol

from artifacts._stream import ArtifactStream
from artifacts.model import Artifact, ByteRange, MetadataSource, StoreHealth, SweepReport

# A temporary file or an unfinished upload untouched for this long belongs to a writer that died:
# a live writer touches its file with every chunk.
DEFAULT_STALE_AFTER_S = 3600.0


class ArtifactStore(Protocol):
    @property
    def backend(self) -> str:
        """`local` or `s3`, for logs and /health."""
        ...

    async def write(
        self,
        job_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        expires_at: float,
        content_type: str | None = None,
        metadata: MetadataSource = None,
        max_bytes: int | None = None,
    ) -> Artifact:
        """Store `chunks` as artifact `name` of `job_id`, replacing any earlier one.

        Streamed: never more than a chunk (a multipart part on S3) in memory. Atomic: the
        artifact becomes visible only once complete, and a failure (the source raising, the
        store failing, the task being cancelled) leaves nothing visible and no temporary file.
        `content_type=None` stores what the bytes are; a declared type must agree with them.
        `max_bytes` caps the size while reading (`ArtifactTooLarge`). `metadata` may be a
        function, called once every chunk has been read (for what only the end tells, such as
        an audio stream's duration)."""
        ...

    async def describe(self, job_id: str, name: str) -> Artifact:
        """The artifact's description with a freshly signed `url`; `ArtifactNotFound` if it
        does not exist or has expired."""
        ...

    async def list_artifacts(self, job_id: str) -> list[Artifact]:
        """Every unexpired artifact of a job, by name."""
        ...

    async def open(self, job_id: str, name: str, byte_range: ByteRange | None = None) -> ArtifactStream:
        """Open the artifact (or one byte range of it) for reading."""
        ...

    async def delete(self, job_id: str, name: str) -> bool:
        """Remove the artifact; False if there was none."""
        ...

    def verify_signed_url(self, job_id: str, name: str, expires: str, signature: str) -> None:
        """Accept the query values of a link this store signed, or raise `SignedUrlExpired` /
        `SignedUrlInvalid`."""
        ...

    async def sweep(self, *, now: float | None = None, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> SweepReport:
        """Delete expired artifacts and what writers that died left behind (older than
        `stale_after_s`); safe to run while writers are active and from several processes."""
        ...

    async def check(self) -> StoreHealth:
        """Whether the store can be written to now; cheap enough for every /health call."""
        ...

    async def aclose(self) -> None: ...
