"""The record each backend keeps beside an artifact's bytes; writing it is the commit point.

Both backends store an artifact as two things under `job_id/name/`: a blob (the bytes, under a
name of its own) and `record.json` (this struct, naming the blob). Readers go through the record,
so an artifact exists exactly when its record does: a blob whose record was never written (the
writer died, or a later write replaced it) is invisible and removed by the sweep.
"""

from __future__ import annotations

import math

import msgspec

from artifacts.model import Artifact, ArtifactMetadata

RECORD = "record.json"
BLOB_PREFIX = "blob-"


class Record(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    name: str
    blob: str  # the blob's name beside the record
    content_type: str
    bytes: int
    sha256: str
    created_at: float
    expires_at: float
    metadata: ArtifactMetadata | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at <= now

    def describe(self, url: str) -> Artifact:
        return Artifact(
            name=self.name,
            content_type=self.content_type,
            bytes=self.bytes,
            sha256=self.sha256,
            url=url,
            expires_at=self.expires_at,
            metadata=self.metadata,
        )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def decode(data: bytes) -> Record:
    return _decoder.decode(data)


def link_expiry(now: float, ttl_s: int, expires_at: float) -> int:
    """When a link minted `now` stops working: after `ttl_s`, but never after the artifact."""
    start = math.floor(now)
    return max(start, min(start + ttl_s, math.floor(expires_at)))
