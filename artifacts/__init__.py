"""Binary job outputs and uploads (audio, images, later video), kept outside Redis.

Below `api` and `workers`, which both use it (workers write, the gateway serves); imports
nothing else of ours. See docs/artifacts.md.
"""

from artifacts._ingest import limit_size
from artifacts._local import LocalStore
from artifacts._signing import UrlSigner
from artifacts._sniff import SUPPORTED_CONTENT_TYPES
from artifacts._stream import ArtifactStream
from artifacts.errors import (
    ArtifactError,
    ArtifactNotFound,
    ArtifactStoreUnavailable,
    ArtifactTooLarge,
    ContentTypeError,
    ContentTypeMismatch,
    InvalidArtifactName,
    RangeNotSatisfiable,
    SignedUrlError,
    SignedUrlExpired,
    SignedUrlInvalid,
    UnsupportedContentType,
)
from artifacts.model import Artifact, ArtifactMetadata, ByteRange, StoreHealth, SweepReport
from artifacts.store import ArtifactStore

__all__ = [
    "SUPPORTED_CONTENT_TYPES",
    "Artifact",
    "ArtifactError",
    "ArtifactMetadata",
    "ArtifactNotFound",
    "ArtifactStore",
    "ArtifactStoreUnavailable",
    "ArtifactStream",
    "ArtifactTooLarge",
    "ByteRange",
    "ContentTypeError",
    "ContentTypeMismatch",
    "InvalidArtifactName",
    "LocalStore",
    "RangeNotSatisfiable",
    "SignedUrlError",
    "SignedUrlExpired",
    "SignedUrlInvalid",
    "StoreHealth",
    "SweepReport",
    "UnsupportedContentType",
    "UrlSigner",
    "limit_size",
]
