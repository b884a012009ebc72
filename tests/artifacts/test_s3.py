"""What only the S3 backend does: presigned links, an object store that goes away, and the
leftovers of writers that died (unfinished multipart uploads, blobs without a record)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from artifacts import ArtifactStoreUnavailable, S3Store, SignedUrlInvalid
from tests.support.artifacts import (
    BUCKET,
    CREDENTIALS,
    PART,
    WAV,
    MotoServer,
    collect,
    connect_s3,
    raw_contents,
    s3_client,
    stream,
)

JOB = "job_0123456789abcdef01234567"
LATER = time.time() + 86400


@pytest.fixture
async def s3(moto_server: MotoServer) -> AsyncIterator[S3Store]:
    store = await connect_s3(moto_server.url)
    try:
        yield store
    finally:
        await store.aclose()


async def test_a_presigned_link_serves_the_bytes_without_credentials(s3: S3Store) -> None:
    written = await s3.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)

    query = parse_qs(urlsplit(written.url).query)
    assert query["X-Amz-Expires"] == ["3600"]
    async with httpx.AsyncClient() as http:
        answer = await http.get(written.url)
    assert answer.status_code == 200
    assert answer.content == WAV
    assert answer.headers["content-type"] == "audio/wav"


async def test_a_presigned_link_never_outlives_its_artifact(s3: S3Store) -> None:
    written = await s3.write(JOB, "speech.wav", stream(WAV), expires_at=time.time() + 600)
    assert 590 <= int(parse_qs(urlsplit(written.url).query)["X-Amz-Expires"][0]) <= 600


async def test_the_gateway_accepts_no_link_for_s3_artifacts(s3: S3Store) -> None:
    # The object store checks its own links; the gateway never serves S3 artifacts by link.
    with pytest.raises(SignedUrlInvalid):
        s3.verify_signed_url(JOB, "speech.wav", str(int(LATER)), "0" * 64)


async def test_an_abandoned_multipart_upload_and_an_orphan_blob_are_swept(s3: S3Store) -> None:
    kept = await s3.write(JOB, "kept.wav", stream(WAV), expires_at=LATER)
    async with s3_client(s3.endpoint_url) as client:
        # What writers killed mid-write leave: a blob with no record, and parts in flight.
        await client.put_object(Bucket=BUCKET, Key=f"{s3.prefix}{JOB}/orphan.wav/blob-dead", Body=WAV)
        assert (await s3.sweep()).stale == 0  # too recent: it could be a live writer's
        # (Not checked for the upload: moto reports the same old `Initiated` date for every one.)
        await client.create_multipart_upload(Bucket=BUCKET, Key=f"{s3.prefix}{JOB}/lost.wav/blob-dead")
    assert [artifact.name for artifact in await s3.list_artifacts(JOB)] == ["kept.wav"]

    report = await s3.sweep(now=time.time() + 7200)

    assert (report.stale, report.expired) == (2, 0)
    assert await raw_contents(s3) == sorted([f"{JOB}/kept.wav/record.json", f"{JOB}/kept.wav/{kept_blob(kept.url)}"])


def kept_blob(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


@pytest.mark.slow
async def test_an_object_store_that_went_away_is_a_retryable_error() -> None:
    server = MotoServer()
    server.start()
    try:
        store = await connect_s3(server.url, max_attempts=1, connect_timeout_s=1.0)
        await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
        assert (await store.check()).ok
    finally:
        server.stop()
    try:
        for call in (
            store.write(JOB, "again.wav", stream(WAV), expires_at=LATER),
            store.open(JOB, "speech.wav"),
            store.describe(JOB, "speech.wav"),
            store.list_artifacts(JOB),
            store.sweep(),
        ):
            with pytest.raises(ArtifactStoreUnavailable) as unavailable:
                await call
            assert unavailable.value.retryable
            assert CREDENTIALS[1] not in unavailable.value.message
        health = await store.check()
        assert (health.ok, health.detail) == (False, "EndpointConnectionError")
    finally:
        await store.aclose()


async def test_an_object_store_lost_in_the_middle_of_a_write_is_a_retryable_error() -> None:
    server = MotoServer()
    server.start()
    try:
        store = await connect_s3(server.url, max_attempts=1, connect_timeout_s=1.0)

        async def outliving_the_store() -> AsyncIterator[bytes]:
            yield WAV + bytes(PART)  # the first part goes up
            server.stop()
            yield bytes(PART)

        with pytest.raises(ArtifactStoreUnavailable):
            await store.write(JOB, "speech.wav", outliving_the_store(), expires_at=LATER)
    finally:
        server.stop()
        await store.aclose()


async def test_a_missing_bucket_makes_the_store_unusable(moto_server: MotoServer) -> None:
    store = await S3Store.connect("no-such-bucket", endpoint_url=moto_server.url, credentials=CREDENTIALS)
    try:
        health = await store.check()
        assert (health.ok, health.detail) == (False, "404")
        with pytest.raises(ArtifactStoreUnavailable):
            await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    finally:
        await store.aclose()


async def test_a_large_artifact_goes_up_in_parts_and_reads_back(s3: S3Store) -> None:
    content = WAV + bytes(range(256)) * (3 * PART // 256)
    chunks = [content[start : start + (1 << 20)] for start in range(0, len(content), 1 << 20)]
    written = await s3.write(JOB, "long.wav", stream(*chunks), expires_at=LATER)
    assert written.bytes == len(content)
    async with await s3.open(JOB, "long.wav") as opened:
        assert await collect(aiter(opened)) == content
