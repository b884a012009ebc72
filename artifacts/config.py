"""The store's own configuration, and the one function that builds a store from it.

The gateway and the workers fill `StoreConfig` from their `MPC_*` settings (see
the README's configuration table for the variables); this package reads no environment itself, except
that the S3 client takes credentials from the standard AWS chain.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from artifacts._local import LocalStore
from artifacts._s3 import S3Store
from artifacts._signing import UrlSigner
from artifacts.store import ArtifactStore

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_URL_TTL_S = 3600


class StoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # file:///absolute/dir, an absolute path, or s3://bucket[/prefix]
    s3_endpoint: str | None = None  # an S3-compatible server (MinIO, ...); None: AWS itself
    s3_region: str = "us-east-1"
    url_ttl_s: int = DEFAULT_URL_TTL_S  # how long a signed link works
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # for the upload route's `max_bytes`
    local_url_base: str = "/api/artifacts"  # where the gateway serves local artifacts

    def __post_init__(self) -> None:
        location(self.url)  # a wrong URL stops start-up, not the first write
        if self.url_ttl_s <= 0 or self.max_upload_bytes <= 0:
            raise ValueError("url_ttl_s and max_upload_bytes must be positive")


def location(url: str) -> Path | tuple[str, str]:
    """A local directory, or (bucket, prefix); `ValueError` for anything else."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"an s3:// artifact store URL needs a bucket: {url!r}")
        return parts.netloc, parts.path.strip("/")
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return Path(parts.path)
    if not parts.scheme and url.startswith("/"):
        return Path(url)
    raise ValueError(f"the artifact store URL must be file:///absolute/path or s3://bucket/prefix, not {url!r}")


async def open_store(config: StoreConfig, *, signing_key: bytes | None = None) -> ArtifactStore:
    """The configured backend. `signing_key` (at least 32 bytes) signs local links and must be
    the same in every process that writes or serves artifacts; S3 signs its own."""
    where = location(config.url)
    if isinstance(where, Path):
        if signing_key is None:
            raise ValueError("a local artifact store needs a signing key for its links")
        return LocalStore(where, UrlSigner(signing_key), url_base=config.local_url_base, url_ttl_s=config.url_ttl_s)
    bucket, prefix = where
    return await S3Store.connect(
        bucket, prefix, endpoint_url=config.s3_endpoint, region=config.s3_region, url_ttl_s=config.url_ttl_s
    )
