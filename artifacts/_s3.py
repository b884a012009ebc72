"""The S3-compatible object store backend (AWS S3, MinIO, Ceph, R2, ...), through aiobotocore.

Layout under the bucket's prefix mirrors the local one (see `_record`):

    <prefix><job_id>/<name>/record.json        the commit point, written after the blob
    <prefix><job_id>/<name>/blob-<random>      the bytes

An object is visible in S3 only once its PUT or CompleteMultipartUpload succeeds, so the blob is
never seen half-written; the record, put last, makes the artifact exist. The blob is named at
random rather than by its sha256 because the digest is known only at the end and S3 has no
rename. A failed write aborts its multipart upload; what a failure leaves anyway (the abort
failed because the store went down, or a blob whose record never arrived) is invisible, and
`sweep` or the bucket's lifecycle rules remove it (docs/artifacts.md).

aiobotocore rather than boto3 in threads: the body streams in and out through the event loop
(`iter_chunks`, parts sent as they fill) with no thread per transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from artifacts import _record
from artifacts._names import artifact_key, check_segment
from artifacts._record import BLOB_PREFIX, RECORD, Record, link_expiry
from artifacts._stream import ArtifactStream
from artifacts._write import write_artifact
from artifacts.errors import ArtifactNotFound, ArtifactStoreUnavailable, SignedUrlInvalid
from artifacts.model import Artifact, ByteRange, MetadataSource, StoreHealth, SweepReport
from artifacts.store import DEFAULT_STALE_AFTER_S

if TYPE_CHECKING:  # the stubs are a development dependency
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

# S3's minimum for every part but the last. A write holds about two parts at its peak (the part,
# and the copy the HTTP client makes as it sends it), so the smallest part keeps concurrent
# writes cheap; 10,000 parts of 5 MiB still allow artifacts of 48 GiB.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = MIN_PART_SIZE
_READ_CHUNK = 256 * 1024
_MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4's limit on a presigned URL's lifetime
_OPEN_ATTEMPTS = 3
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
# Errors of the transport and the client library: all mean "the store cannot be used right now".
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or "ClientError"


def _missing(exc: ArtifactStoreUnavailable) -> bool:
    """Whether the store only said "no such key" (which `_failures` also maps)."""
    return isinstance(exc.__cause__, ClientError) and _code(exc.__cause__) in _NOT_FOUND


@contextlib.contextmanager
def _failures(action: str) -> Iterator[None]:
    """Map the client library's errors to `ArtifactStoreUnavailable`, naming only the error
    code or class (their messages may carry URLs)."""
    try:
        yield
    except ClientError as exc:
        raise ArtifactStoreUnavailable("s3", action, _code(exc)) from exc
    except _TRANSPORT_ERRORS as exc:
        raise ArtifactStoreUnavailable("s3", action, type(exc).__name__) from exc


class _S3Sink:
    """One blob being uploaded to `<base>blob-<random>`: a single PUT if it fits in one part,
    a multipart upload if not."""

    def __init__(self, store: S3Store, base: str, content_type: str) -> None:
        self._store = store
        self._client = store._client
        self._bucket = store.bucket
        self._base = base
        self._blob = BLOB_PREFIX + secrets.token_hex(16)
        self._key = base + self._blob
        self._content_type = content_type
        # The chunks of the next part, kept as they came and joined once: one copy of a part
        # in memory at a time besides the one the HTTP client makes while sending it.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._stored = False

    def _drain(self) -> bytes:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return data

    async def add(self, chunk: bytes) -> None:
        # bytes() copies only what is not already immutable bytes (a reused bytearray would
        # change under us); parts may exceed part_size by up to one chunk, which S3 allows.
        self._pending.append(bytes(chunk))
        self._pending_size += len(chunk)
        if self._pending_size >= self._store.part_size:
            await self._send_part(self._drain())

    async def _send_part(self, data: bytes) -> None:
        with _failures("write"):
            if self._upload_id is None:
                created = await self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, ContentType=self._content_type
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            sent = await self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=data
            )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def finish(self, sha256: str) -> str:
        if self._upload_id is None:
            body = self._drain()
            with _failures("write"):
                await self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=body, ContentType=self._content_type
                )
        else:
            if self._pending:
                await self._send_part(self._drain())
            with _failures("write"):
                await self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
                )
        self._stored = True
        return self._blob

    async def commit(self, record: Record) -> None:
        with _failures("write"):
            await self._client.put_object(
                Bucket=self._bucket,
                Key=self._base + RECORD,
                Body=_record.encode(record),
                ContentType="application/json",
            )
        await self._store._remove_blobs(self._base, keep=self._blob)

    async def discard(self) -> None:
        """Abort an unfinished multipart upload, as far as the store lets us: this runs after a
        failure, often because the store is down, so its own failure is left to `sweep` and the
        lifecycle rules. A finished blob is left alone: if only the answer to its record's PUT
        was lost, the record names it; if the record is really missing, the blob is an invisible
        orphan that `sweep` removes."""
        if self._stored or self._upload_id is None:
            return
        with contextlib.suppress(ClientError, *_TRANSPORT_ERRORS):
            await self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class S3Store:
    """Artifacts in `bucket` under `prefix`; links are presigned GETs to the object store.

    Build it with `await S3Store.connect(...)` and close it with `aclose()` (or `async with`);
    the bucket must exist (it is infrastructure, with its lifecycle rules)."""

    backend = "s3"

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        url_ttl_s: int = 3600,
        part_size: int = DEFAULT_PART_SIZE,
        clock: Callable[[], float] = time.time,
        exit_stack: AsyncExitStack | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self._client = client
        self.endpoint_url: str | None = client.meta.endpoint_url
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._url_ttl_s = url_ttl_s
        self.part_size = part_size
        self._clock = clock
        self._exit_stack = exit_stack

    @classmethod
    async def connect(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        credentials: tuple[str, str] | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        max_attempts: int = 3,
        url_ttl_s: int = 3600,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> S3Store:
        """Open a client. Credentials, when not given, come from the standard AWS chain
        (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile, an instance role)."""
        config = AioConfig(
            signature_version="s3v4",
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # Self-hosted S3-compatible servers are addressed by host or IP, where a
            # bucket-named subdomain does not resolve.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        key_id, secret = credentials if credentials is not None else (None, None)
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                config=config,
            )
        )
        return cls(client, bucket, prefix, url_ttl_s=url_ttl_s, part_size=part_size, exit_stack=stack)

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _base(self, job_id: str, name: str) -> str:
        return f"{self.prefix}{artifact_key(job_id, name)}/"

    async def _url(self, record: Record) -> str:
        now = self._clock()
        expires_in = link_expiry(now, self._url_ttl_s, record.expires_at) - int(now)
        return await self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._base(record.job_id, record.name) + record.blob},
            ExpiresIn=min(max(expires_in, 1), _MAX_PRESIGN_S),
        )

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
        base = self._base(job_id, name)

        async def begin(resolved: str) -> _S3Sink:
            return _S3Sink(self, base, resolved)

        record = await write_artifact(
            begin,
            chunks,
            job_id=job_id,
            name=name,
            expires_at=expires_at,
            content_type=content_type,
            metadata=metadata,
            max_bytes=max_bytes,
            clock=self._clock,
        )
        return record.describe(await self._url(record))

    async def _remove_blobs(self, base: str, *, keep: str | None) -> None:
        """Delete the blobs under `base` except `keep` (superseded by a newer write). Best
        effort: a blob left behind is invisible, and `sweep` removes it later."""
        with contextlib.suppress(ArtifactStoreUnavailable):
            for key, _ in await self._list(base):
                if key.rsplit("/", 1)[-1].startswith(BLOB_PREFIX) and key != base + (keep or ""):
                    with _failures("delete"):
                        await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def _list(self, prefix: str) -> list[tuple[str, float]]:
        """(key, last modified) of every object under `prefix`."""
        found: list[tuple[str, float]] = []
        with _failures("list"):
            async for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend((obj["Key"], obj["LastModified"].timestamp()) for obj in page.get("Contents", []))
        return found

    async def _load_record(self, base: str) -> Record | None:
        try:
            with _failures("read"):
                got = await self._client.get_object(Bucket=self.bucket, Key=base + RECORD)
                async with got["Body"] as body:
                    data = await body.read()
        except ArtifactStoreUnavailable as exc:
            if _missing(exc):
                return None
            raise
        try:
            return _record.decode(data)
        except msgspec.DecodeError:  # not one of ours: treat as absent, let `sweep` judge it
            return None

    async def _live_record(self, job_id: str, name: str) -> Record:
        record = await self._load_record(self._base(job_id, name))
        if record is None or record.expired(self._clock()):
            raise ArtifactNotFound(job_id, name)
        return record

    async def describe(self, job_id: str, name: str) -> Artifact:
        record = await self._live_record(job_id, name)
        return record.describe(await self._url(record))

    async def list_artifacts(self, job_id: str) -> list[Artifact]:
        job_prefix = f"{self.prefix}{check_segment('job id', job_id)}/"
        now = self._clock()
        found: list[Artifact] = []
        for key, _ in sorted(await self._list(job_prefix)):
            if key.count("/", len(job_prefix)) == 1 and key.endswith("/" + RECORD):
                record = await self._load_record(key[: -len(RECORD)])
                if record is not None and not record.expired(now):
                    found.append(record.describe(await self._url(record)))
        return found

    async def open(self, job_id: str, name: str, byte_range: ByteRange | None = None) -> ArtifactStream:
        base = self._base(job_id, name)
        for _ in range(_OPEN_ATTEMPTS):
            record = await self._live_record(job_id, name)
            start, end = byte_range.resolve(record.bytes) if byte_range else (0, record.bytes - 1)
            artifact = record.describe(await self._url(record))
            request: dict[str, Any] = {"Bucket": self.bucket, "Key": base + record.blob}
            if (start, end) != (0, record.bytes - 1):
                request["Range"] = f"bytes={start}-{end}"
            try:
                with _failures("read"):
                    got = await self._client.get_object(**request)
            except ArtifactStoreUnavailable as exc:
                if _missing(exc):
                    continue  # replaced (or deleted) since we read the record: look again
                raise
            break
        else:
            raise ArtifactNotFound(job_id, name)
        body = got["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            with _failures("read"):
                async for chunk in body.iter_chunks(_READ_CHUNK):
                    yield chunk

        async def release() -> None:
            body.close()

        return ArtifactStream(artifact, start, end, chunks(), release)

    async def delete(self, job_id: str, name: str) -> bool:
        base = self._base(job_id, name)
        existed = await self._load_record(base) is not None
        with _failures("delete"):
            await self._client.delete_object(Bucket=self.bucket, Key=base + RECORD)  # first: now invisible
        await self._remove_blobs(base, keep=None)
        return existed

    def verify_signed_url(self, job_id: str, name: str, expires: str, signature: str) -> None:
        """The object store checks its own presigned links; one reaching the gateway was not
        minted by this store."""
        artifact_key(job_id, name)
        raise SignedUrlInvalid()

    async def sweep(self, *, now: float | None = None, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> SweepReport:
        when = self._clock() if now is None else now
        cutoff = when - stale_after_s
        expired = stale = 0
        # Group the objects by artifact (`job_id/name/`) and settle each group from its record.
        groups: dict[str, list[tuple[str, float]]] = {}
        for key, modified in await self._list(self.prefix):
            parts = key[len(self.prefix) :].split("/")
            if len(parts) == 3:
                groups.setdefault(f"{self.prefix}{parts[0]}/{parts[1]}/", []).append((parts[2], modified))
        for base, entries in groups.items():
            names = {entry for entry, _ in entries}
            record = await self._load_record(base) if RECORD in names else None
            if record is not None and record.expired(when):
                with _failures("sweep"):
                    await self._client.delete_object(Bucket=self.bucket, Key=base + RECORD)
                await self._remove_blobs(base, keep=None)
                expired += 1
                continue
            for entry, modified in entries:
                orphan = entry.startswith(BLOB_PREFIX) and (record is None or entry != record.blob)
                if orphan and modified < cutoff:
                    with _failures("sweep"):
                        await self._client.delete_object(Bucket=self.bucket, Key=base + entry)
                    stale += 1
        stale += await self._abort_stale_uploads(cutoff)
        return SweepReport(expired=expired, stale=stale)

    async def _abort_stale_uploads(self, cutoff: float) -> int:
        """Abort multipart uploads of writers that died (their parts cost storage, unseen)."""
        aborted = 0
        with _failures("sweep"):
            pages = self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            async for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < cutoff:
                        await self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    async def check(self) -> StoreHealth:
        try:
            with _failures("check"):
                await self._client.head_bucket(Bucket=self.bucket)
        except ArtifactStoreUnavailable as exc:
            return StoreHealth(ok=False, backend=self.backend, detail=exc.reason)
        return StoreHealth(ok=True, backend=self.backend)

    async def aclose(self) -> None:
        if self._exit_stack is not None:
            await self._exit_stack.aclose()

    async def __aenter__(self) -> S3Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
