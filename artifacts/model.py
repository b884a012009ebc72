"""What the store says about artifacts: their description, byte ranges, health and sweeps."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from artifacts.errors import RangeNotSatisfiable


class ArtifactMetadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a task knows about its output beyond the bytes; the store keeps it, never checks it."""

    duration_s: float | None = None  # audio, video
    width: int | None = None  # images, video
    height: int | None = None  # images, video


# Metadata for a write: known up front, or a function called once the whole content was read.
MetadataSource = ArtifactMetadata | Callable[[], ArtifactMetadata | None] | None


class Artifact(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A stored artifact, as a job's output or `GET /api/files` shows it.

    `url` is a short-lived signed link (by default one hour, never past `expires_at`) that
    works without the API key; ask the store to `describe` the artifact again for a fresh one."""

    name: str
    content_type: str
    bytes: int
    sha256: str  # hex digest of the whole content
    url: str
    expires_at: float  # unix seconds; the store deletes the artifact after it
    metadata: ArtifactMetadata | None = None

    @property
    def etag(self) -> str:
        """A strong HTTP ETag: equal tags mean byte-for-byte equal content."""
        return f'"{self.sha256}"'


class ByteRange(msgspec.Struct, frozen=True):
    """One HTTP byte range, as the header spells it: `start-end` (inclusive), `start-` (to the
    end: `end=None`) or `-end` (the last `end` bytes: `start=None`)."""

    start: int | None
    end: int | None = None

    def resolve(self, size: int) -> tuple[int, int]:
        """The first and last byte offsets this range covers in `size` bytes (RFC 9110 14.1.2:
        an end past the last byte is clipped), or `RangeNotSatisfiable`."""
        if self.start is None:
            if not self.end or self.end < 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - self.end), size - 1
        last = size - 1 if self.end is None else min(self.end, size - 1)
        if self.start < 0 or self.start >= size or last < self.start:
            raise RangeNotSatisfiable(size)
        return self.start, last


class StoreHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of `check()`, for /health: `detail` says why when not `ok` (no secrets)."""

    ok: bool
    backend: str
    detail: str = ""


class SweepReport(msgspec.Struct, frozen=True, kw_only=True):
    expired: int = 0  # artifacts deleted because their `expires_at` had passed
    stale: int = 0  # leftovers of writers that died: temporary files, orphaned blobs, uploads
