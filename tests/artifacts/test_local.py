"""What only the local backend does: its files on disk, writers killed mid-write, signed links
checked by the gateway, and a directory it cannot use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from artifacts import (
    ArtifactNotFound,
    ArtifactStoreUnavailable,
    InvalidArtifactName,
    LocalStore,
    SignedUrlExpired,
    SignedUrlInvalid,
    UrlSigner,
)
from tests.support.artifacts import SIGNING_KEY, WAV, collect, stream

JOB = "job_0123456789abcdef01234567"
LATER = time.time() + 86400


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


async def test_an_artifact_is_a_record_and_a_blob_named_by_its_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY))
    written = await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)

    assert files(tmp_path) == [f"{JOB}/speech.wav/blob-{written.sha256}", f"{JOB}/speech.wav/record.json"]
    assert (tmp_path / JOB / "speech.wav" / f"blob-{written.sha256}").read_bytes() == WAV
    record = json.loads((tmp_path / JOB / "speech.wav" / "record.json").read_text())
    assert record["sha256"] == written.sha256
    assert record["expires_at"] == LATER


def start_writer_and_kill_it(root: Path) -> None:
    """A real writer process, killed (SIGKILL: no clean-up runs) in the middle of a write."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from artifacts import LocalStore, UrlSigner

        async def source():
            yield Path({str(Path(__file__).parent / "samples" / "tone.wav")!r}).read_bytes()
            print("writing", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            yield b"never"

        store = LocalStore(Path({str(root)!r}), UrlSigner(b"k" * 32))
        asyncio.run(store.write({JOB!r}, "speech.wav", source(), expires_at=2e9))
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"writing\n"  # the first chunk went through
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)


async def test_a_killed_writers_temporary_file_is_never_seen_and_the_sweep_removes_it(tmp_path: Path) -> None:
    start_writer_and_kill_it(tmp_path)
    leftovers = files(tmp_path)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(f"{JOB}/speech.wav/.tmp-")

    clock = Clock()
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY), clock=clock)
    assert await store.list_artifacts(JOB) == []
    with pytest.raises(ArtifactNotFound):
        await store.open(JOB, "speech.wav")
    with pytest.raises(InvalidArtifactName):
        await store.open(JOB, Path(leftovers[0]).name)

    assert (await store.sweep()).stale == 0  # too recent: it could be a live writer's
    assert (await store.sweep(now=clock.now + 7200)).stale == 1
    assert files(tmp_path) == []


async def test_a_blob_whose_record_was_never_written_is_swept(tmp_path: Path) -> None:
    # The window between the blob's rename and the record's: the writer died right there.
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY))
    kept = await store.write(JOB, "kept.wav", stream(WAV), expires_at=LATER)
    orphan = tmp_path / JOB / "lost.wav" / "blob-0123"
    orphan.parent.mkdir()
    orphan.write_bytes(WAV)

    assert [artifact.name for artifact in await store.list_artifacts(JOB)] == ["kept.wav"]
    report = await store.sweep(now=time.time() + 7200)
    assert (report.stale, report.expired) == (1, 0)
    assert files(tmp_path) == [f"{JOB}/kept.wav/blob-{kept.sha256}", f"{JOB}/kept.wav/record.json"]


@pytest.mark.parametrize("obstacle", ["root is a file", "parent is a file"])
async def test_a_directory_that_cannot_be_used_is_a_retryable_error(tmp_path: Path, obstacle: str) -> None:
    # A file where the directory should be fails for root too (permission bits do not: tests
    # may run as root).
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    store = LocalStore(blocker if obstacle == "root is a file" else blocker / "artifacts", UrlSigner(SIGNING_KEY))

    with pytest.raises(ArtifactStoreUnavailable) as unavailable:
        await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    assert unavailable.value.retryable
    assert "blocker" not in unavailable.value.message  # says why, not where
    health = await store.check()
    assert (health.ok, health.detail) == (False, "File exists")  # where the directory should be
    assert os.listdir(tmp_path) == ["blocker"]


async def test_a_signed_link_is_accepted_until_it_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY, clock=clock), url_base="/api/artifacts/", clock=clock)
    written = await store.write(JOB, "speech.wav", stream(WAV), expires_at=clock.now + 86400)

    link = urlsplit(written.url)
    query = {key: values[0] for key, values in parse_qs(link.query).items()}
    assert link.path == f"/api/artifacts/{JOB}/speech.wav"
    assert int(query["expires"]) == int(clock.now) + 3600
    store.verify_signed_url(JOB, "speech.wav", query["expires"], query["signature"])

    clock.now += 3600
    with pytest.raises(SignedUrlExpired):
        store.verify_signed_url(JOB, "speech.wav", query["expires"], query["signature"])
    fresh = urlsplit((await store.describe(JOB, "speech.wav")).url)
    assert fresh.query != link.query


async def test_a_link_never_outlives_its_artifact(tmp_path: Path) -> None:
    clock = Clock()
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY), clock=clock)
    written = await store.write(JOB, "speech.wav", stream(WAV), expires_at=clock.now + 600)
    assert parse_qs(urlsplit(written.url).query)["expires"] == [str(int(clock.now + 600))]


async def test_a_tampered_link_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY))
    written = await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    await store.write(JOB, "other.wav", stream(WAV), expires_at=LATER)
    query = {key: values[0] for key, values in parse_qs(urlsplit(written.url).query).items()}
    expires, signature = query["expires"], query["signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]

    for job_id, name, when, sig in [
        (JOB, "speech.wav", expires, flipped),
        (JOB, "speech.wav", str(int(expires) + 3600), signature),  # pushed forward
        (JOB, "other.wav", expires, signature),  # another artifact
        ("job_other", "speech.wav", expires, signature),
        (JOB, "speech.wav", expires, signature.upper()),
        (JOB, "speech.wav", expires, "é" * 64),
        (JOB, "speech.wav", "-1", signature),
        (JOB, "speech.wav", expires, ""),
    ]:
        with pytest.raises(SignedUrlInvalid):
            store.verify_signed_url(job_id, name, when, sig)
    other_key = LocalStore(tmp_path, UrlSigner(b"x" * 32))
    with pytest.raises(SignedUrlInvalid):
        other_key.verify_signed_url(JOB, "speech.wav", expires, signature)


async def test_a_stream_closed_early_releases_its_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, UrlSigner(SIGNING_KEY))
    await store.write(JOB, "speech.wav", stream(WAV), expires_at=LATER)
    before = len(os.listdir("/proc/self/fd"))
    opened = await store.open(JOB, "speech.wav")
    assert len(os.listdir("/proc/self/fd")) == before + 1
    await opened.aclose()
    assert len(os.listdir("/proc/self/fd")) == before
    async with await store.open(JOB, "speech.wav") as reopened:
        assert await collect(aiter(reopened)) == WAV
    assert len(os.listdir("/proc/self/fd")) == before
