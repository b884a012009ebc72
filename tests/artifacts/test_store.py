"""The behaviour every backend owes: run once against a real directory, once against a real
S3-compatible server (the `store` fixture)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifacts import (
    ArtifactMetadata,
    ArtifactNotFound,
    ArtifactStore,
    ArtifactTooLarge,
    ByteRange,
    ContentTypeMismatch,
    InvalidArtifactName,
    LocalStore,
    RangeNotSatisfiable,
    UnsupportedContentType,
)
from tests.support.artifacts import PART, WAV, collect, raw_contents, sample, stream

JOB = "job_0123456789abcdef01234567"
LATER = time.time() + 3600


def wav_of(size: int) -> bytes:
    """A WAV header followed by `size - len(header)` bytes that differ from chunk to chunk."""
    body = bytes(range(256)) * (size // 256 + 1)
    return (WAV[:44] + body)[:size]


async def read_all(store: ArtifactStore, name: str, byte_range: ByteRange | None = None) -> bytes:
    async with await store.open(JOB, name, byte_range) as opened:
        return await collect(aiter(opened))


async def test_a_written_artifact_reads_back_with_its_description(store: ArtifactStore) -> None:
    content = wav_of(700 * 1024)  # several read chunks
    meta = ArtifactMetadata(duration_s=0.05)
    written = await store.write(
        JOB, "speech.wav", stream(content[:1000], content[1000:]), expires_at=LATER, metadata=meta
    )

    assert written.name == "speech.wav"
    assert written.content_type == "audio/wav"
    assert written.bytes == len(content)
    assert written.sha256 == hashlib.sha256(content).hexdigest()
    assert written.etag == f'"{written.sha256}"'
    assert written.expires_at == LATER
    assert written.metadata == meta
    assert written.url
    assert await read_all(store, "speech.wav") == content
    described = await store.describe(JOB, "speech.wav")
    assert (described.sha256, described.bytes, described.metadata) == (written.sha256, written.bytes, meta)


async def test_metadata_can_be_given_once_the_content_has_been_read(store: ArtifactStore) -> None:
    content = wav_of(300 * 1024)
    read = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal read
        for start in range(0, len(content), 64 * 1024):
            read += len(content[start : start + 64 * 1024])
            yield content[start : start + 64 * 1024]

    def measured() -> ArtifactMetadata:
        return ArtifactMetadata(duration_s=read / 48000)  # what only the end of the stream tells

    written = await store.write(JOB, "speech.wav", counted(), expires_at=LATER, metadata=measured)

    assert written.metadata == ArtifactMetadata(duration_s=len(content) / 48000)
    assert (await store.describe(JOB, "speech.wav")).metadata == written.metadata


async def test_raw_pcm_is_stored_when_declared(store: ArtifactStore) -> None:
    samples = bytes(range(1, 255)) * 40
    written = await store.write(JOB, "speech.pcm", stream(samples), expires_at=LATER, content_type="audio/pcm")
    assert written.content_type == "audio/pcm"
    assert await read_all(store, "speech.pcm") == samples


async def test_the_content_type_is_what_the_bytes_are_when_none_is_declared(store: ArtifactStore) -> None:
    assert (await store.write(JOB, "a", stream(sample("image.png")), expires_at=LATER)).content_type == "image/png"
    declared = await store.write(JOB, "b", stream(WAV), expires_at=LATER, content_type="audio/x-wav; codecs=1")
    assert declared.content_type == "audio/wav"


async def test_bytes_that_are_not_the_declared_type_are_refused_and_nothing_is_stored(store: ArtifactStore) -> None:
    with pytest.raises(ContentTypeMismatch) as refused:
        await store.write(JOB, "cat.png", stream(WAV), expires_at=LATER, content_type="image/png")
    assert (refused.value.declared, refused.value.sniffed) == ("image/png", "audio/wav")
    with pytest.raises(UnsupportedContentType):
        await store.write(JOB, "page.html", stream(b"<html></html>"), expires_at=LATER, content_type="text/html")
    with pytest.raises(ContentTypeMismatch):
        await store.write(JOB, "empty.wav", stream(), expires_at=LATER, content_type="audio/wav")
    assert await raw_contents(store) == []


@pytest.mark.parametrize("size", [1000, PART + 1000], ids=["single-put", "multipart"])
async def test_a_source_failing_mid_stream_leaves_nothing_behind(store: ArtifactStore, size: int) -> None:
    failure = RuntimeError("the model stopped")

    async def failing() -> AsyncIterator[bytes]:
        yield wav_of(size)
        raise failure

    with pytest.raises(RuntimeError) as raised:
        await store.write(JOB, "speech.wav", failing(), expires_at=LATER)
    assert raised.value is failure  # the source's own error, not a wrapped one
    assert await raw_contents(store) == []
    with pytest.raises(ArtifactNotFound):
        await store.describe(JOB, "speech.wav")


async def test_a_failed_rewrite_keeps_the_previous_artifact(store: ArtifactStore) -> None:
    first = await store.write(JOB, "speech.wav", stream(wav_of(2000)), expires_at=LATER)

    async def failing() -> AsyncIterator[bytes]:
        yield wav_of(PART + 10)
        raise RuntimeError("the model stopped")

    with pytest.raises(RuntimeError):
        await store.write(JOB, "speech.wav", failing(), expires_at=LATER)
    assert (await store.describe(JOB, "speech.wav")).sha256 == first.sha256
    assert await read_all(store, "speech.wav") == wav_of(2000)


async def test_a_cancelled_write_leaves_nothing_behind(store: ArtifactStore) -> None:
    sent = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        yield wav_of(PART + 10)  # on S3, a multipart upload is under way
        yield b"more"
        sent.set()
        await asyncio.Event().wait()  # the model never finishes
        yield b"never"

    writing = asyncio.create_task(store.write(JOB, "speech.wav", stalling(), expires_at=LATER))
    await sent.wait()
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert await raw_contents(store) == []


async def test_a_rewrite_replaces_the_artifact_and_its_old_bytes(store: ArtifactStore) -> None:
    await store.write(JOB, "speech.wav", stream(wav_of(3000)), expires_at=LATER)
    second = await store.write(JOB, "speech.wav", stream(wav_of(5000)), expires_at=LATER)

    assert await read_all(store, "speech.wav") == wav_of(5000)
    assert (await store.describe(JOB, "speech.wav")).etag == second.etag
    blobs = [entry for entry in await raw_contents(store) if "blob-" in entry]
    assert len(blobs) == 1


async def test_an_upload_over_its_cap_stops_being_read(store: ArtifactStore) -> None:
    pulled = 0
    closed = False

    async def upload() -> AsyncIterator[bytes]:
        nonlocal pulled, closed
        try:
            for index in range(100):
                pulled += 1
                yield WAV[:1024] if index == 0 else bytes(1024)
        finally:
            closed = True

    with pytest.raises(ArtifactTooLarge) as refused:
        await store.write(JOB, "upload.wav", upload(), expires_at=LATER, max_bytes=2500)
    assert refused.value.max_bytes == 2500
    assert pulled == 3  # the chunk that crossed the cap, and not one more
    assert closed
    assert await raw_contents(store) == []
    exactly = await store.write(JOB, "fits.wav", stream(wav_of(2500)), expires_at=LATER, max_bytes=2500)
    assert exactly.bytes == 2500


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [
        (ByteRange(10, 19), slice(10, 20)),
        (ByteRange(300_000, 600_000), slice(300_000, 600_001)),  # across read chunks
        (ByteRange(None, 5), slice(-5, None)),  # the last 5 bytes
        (ByteRange(699_990), slice(699_990, None)),  # to the end
        (ByteRange(0, 10**12), slice(0, None)),  # an end past the last byte is clipped
    ],
    ids=["inner", "across-chunks", "suffix", "open-ended", "clipped"],
)
async def test_a_byte_range_reads_just_those_bytes(
    store: ArtifactStore, byte_range: ByteRange, expected: slice
) -> None:
    content = wav_of(700_000)
    await store.write(JOB, "speech.wav", stream(content), expires_at=LATER)
    async with await store.open(JOB, "speech.wav", byte_range) as opened:
        got = await collect(aiter(opened))
        first, last = byte_range.resolve(len(content))
        assert (opened.start, opened.end, opened.length) == (first, last, len(got))
        assert opened.content_range == f"bytes {first}-{last}/{len(content)}"
        assert opened.partial == (len(got) != len(content))
        assert opened.artifact.etag == f'"{hashlib.sha256(content).hexdigest()}"'
    assert got == content[expected]


async def test_a_range_outside_the_artifact_is_not_satisfiable(store: ArtifactStore) -> None:
    await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    for outside in (ByteRange(len(WAV)), ByteRange(10, 5), ByteRange(None, 0)):
        with pytest.raises(RangeNotSatisfiable) as refused:
            await store.open(JOB, "speech.wav", outside)
        assert refused.value.size == len(WAV)


async def test_the_whole_artifact_is_not_partial(store: ArtifactStore) -> None:
    await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    async with await store.open(JOB, "speech.wav") as opened:
        assert not opened.partial
        assert opened.length == len(WAV)


async def test_equal_content_has_equal_etags(store: ArtifactStore) -> None:
    one = await store.write(JOB, "one.wav", stream(WAV), expires_at=LATER)
    same = await store.write("job_other", "two.wav", stream(WAV[:100], WAV[100:]), expires_at=LATER)
    different = await store.write(JOB, "three.wav", stream(wav_of(len(WAV))), expires_at=LATER)
    assert one.etag == same.etag != different.etag


async def test_a_job_lists_its_unexpired_artifacts_by_name(store: ArtifactStore) -> None:
    await store.write(JOB, "b.png", stream(sample("image.png")), expires_at=LATER)
    await store.write(JOB, "a.wav", stream(WAV), expires_at=LATER)
    await store.write(JOB, "gone.wav", stream(WAV), expires_at=time.time() - 1)
    await store.write("job_other", "c.wav", stream(WAV), expires_at=LATER)
    assert [artifact.name for artifact in await store.list_artifacts(JOB)] == ["a.wav", "b.png"]
    assert await store.list_artifacts("job_nothing") == []


async def test_an_expired_artifact_is_not_served_before_the_sweep(store: ArtifactStore) -> None:
    await store.write(JOB, "speech.wav", stream(WAV), expires_at=time.time() - 1)
    with pytest.raises(ArtifactNotFound):
        await store.describe(JOB, "speech.wav")
    with pytest.raises(ArtifactNotFound):
        await store.open(JOB, "speech.wav")


async def test_the_sweep_deletes_expired_artifacts_only(store: ArtifactStore) -> None:
    now = time.time()
    await store.write(JOB, "soon.wav", stream(WAV), expires_at=now + 60)
    await store.write(JOB, "later.wav", stream(WAV), expires_at=now + 3600)

    report = await store.sweep(now=now + 120)

    assert report.expired == 1
    assert [artifact.name for artifact in await store.list_artifacts(JOB)] == ["later.wav"]
    assert not [entry for entry in await raw_contents(store) if "soon.wav" in entry]
    assert (await store.sweep(now=now + 120)).expired == 0


async def test_a_deleted_artifact_is_gone(store: ArtifactStore) -> None:
    await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    assert await store.delete(JOB, "speech.wav")
    assert not await store.delete(JOB, "speech.wav")
    with pytest.raises(ArtifactNotFound):
        await store.open(JOB, "speech.wav")
    assert await raw_contents(store) == []


async def test_a_missing_artifact_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound) as missing:
        await store.open(JOB, "nothing.wav")
    assert (missing.value.job_id, missing.value.name) == (JOB, "nothing.wav")


BAD_NAMES = ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "a\x00b", ".tmp-1234", "x" * 129, "café", " a"]


@pytest.mark.parametrize("bad", BAD_NAMES)
async def test_a_name_that_could_leave_the_store_is_refused(store: ArtifactStore, tmp_path: Path, bad: str) -> None:
    calls = [
        store.write(JOB, bad, stream(WAV), expires_at=LATER),
        store.write(bad, "speech.wav", stream(WAV), expires_at=LATER),
        store.open(JOB, bad),
        store.describe(bad, "speech.wav"),
        store.delete(JOB, bad),
        store.list_artifacts(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidArtifactName):
            await call
    with pytest.raises(InvalidArtifactName):
        store.verify_signed_url(JOB, bad, "1", "0" * 64)
    assert await raw_contents(store) == []
    if isinstance(store, LocalStore):
        assert os.listdir(tmp_path) in ([], ["artifacts"])


async def test_the_store_reports_itself_usable(store: ArtifactStore) -> None:
    health = await store.check()
    assert health.ok
    assert health.backend == store.backend
