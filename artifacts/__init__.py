"""Binary job outputs and uploads (audio, images, later video), kept outside Redis.

Below `api` and `workers`, which both use it (workers write, the gateway serves); imports
nothing else of ours. Two backends behind `ArtifactStore`: a local directory and S3-compatible
object storage. See docs/artifacts.md.
"""

from artifacts._ingest import limit_size
from artifacts._local import LocalStore
from artifacts._s3 import S3Store
from artifacts._signing import UrlSigner
from artifacts._sniff import SUPPORTED_CONTENT_TYPES, sniff
from artifacts._stream import ArtifactStream
from artifacts.config import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_URL_TTL_S, StoreConfig, open_store
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
from artifacts.model import Artifact, ArtifactMetadata, ByteRange, MetadataSource, StoreHealth, SweepReport
from artifacts.store import ArtifactStore

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_URL_TTL_S",
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
    "MetadataSource",
    "RangeNotSatisfiable",
    "S3Store",
    "SignedUrlError",
    "SignedUrlExpired",
    "SignedUrlInvalid",
    "StoreConfig",
    "StoreHealth",
    "SweepReport",
    "UnsupportedContentType",
    "UrlSigner",
    "limit_size",
    "open_store",
    "sniff",
]
