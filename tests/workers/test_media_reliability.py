"""Media jobs when things go wrong: a client cancel, a worker killed mid-write, a store that
cannot be written. Real processes throughout; the emulator makes speech slow on demand."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from artifacts import LocalStore, UrlSigner
from catalog import Catalog
from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from tests.support.chat_stack import SIGNING_KEY
from tests.support.jobs import wait_final, wait_for_job
from tests.support.litellm import LiteLLMProxy
from tests.support.media_stack import MediaStack, audio_seconds, running_media_stack
from tests.support.waiting import wait_until

OPENAI_TTS = "openai/gpt-4o-mini-tts"
SENTENCE = "The quick brown fox jumps over the lazy dog while the band plays on. "


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")] if root.exists() else []


def test_a_cancel_stops_the_speech_and_leaves_nothing(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(OPENAI_TTS), latency_ms=20_000)
    job_id = media.submit("tts", {"text": "This will never be heard."}, model=OPENAI_TTS)
    wait_for_job(media.api, job_id, lambda state: state["status"] == "processing")
    time.sleep(0.5)  # the worker is waiting on the provider

    started = time.monotonic()
    assert media.api.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait_final(media.api, job_id, timeout=10)

    assert job["status"] == "canceled"
    assert time.monotonic() - started < 5  # not the provider's 20 s
    assert media.files_of(job_id) == []


def _children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid and comm == name:
            found.append(int(entry.name))
    return found


def test_a_cancel_mid_join_kills_ffmpeg_and_discards_the_partial_artifact(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(OPENAI_TTS), latency_ms=3000)
    job_id = media.submit("tts", {"text": SENTENCE * 70, "format": "mp3"}, model=OPENAI_TTS)
    root = media.artifacts_dir / job_id
    assert wait_until(lambda: bool(_temporary_files(root)), timeout=30), "the write never started"
    worker = media.worker_pid("media")
    assert _children_named(worker, "ffmpeg")  # the encoder (and a decoder) are running

    assert media.api.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    assert wait_final(media.api, job_id, timeout=10)["status"] == "canceled"

    assert wait_until(lambda: not _children_named(worker, "ffmpeg"), timeout=5)
    assert wait_until(lambda: media.files_of(job_id) == [], timeout=5)


def test_a_worker_killed_mid_write_runs_the_job_again_into_one_artifact(media: MediaStack) -> None:
    # Two pieces, each answered after 3 s: the first is encoded and being written while the
    # second is awaited, which is when the worker dies.
    media.stack.emulator.set_model(media.upstream_name(OPENAI_TTS), latency_ms=3000)
    job_id = media.submit("tts", {"text": SENTENCE * 70, "format": "mp3"}, model=OPENAI_TTS)
    root = media.artifacts_dir / job_id
    assert wait_until(lambda: bool(_temporary_files(root)), timeout=30), "the write never started"

    os.kill(media.worker_pid("media"), signal.SIGKILL)
    replacement = media.start_worker("media")
    try:
        job = wait_final(media.api, job_id, timeout=90)
    finally:
        replacement.stop()

    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] >= 2
    [artifact] = job["output"]["artifacts"]
    content = media.read_artifact(job_id, artifact["name"])
    assert audio_seconds(content) > 60  # the whole text, not the first attempt's piece

    async def listed_and_swept() -> tuple[list[str], int]:
        store = LocalStore(media.artifacts_dir, UrlSigner(SIGNING_KEY.encode()))
        try:
            names = [a.name for a in await store.list_artifacts(job_id)]
            report = await store.sweep(stale_after_s=0)
            return names, report.stale
        finally:
            await store.aclose()

    names, stale = asyncio.run(listed_and_swept())
    assert names == ["speech.mp3"]
    assert stale >= 1  # the dead writer's temporary file, now gone
    assert _temporary_files(root) == []


def test_a_store_that_cannot_be_written_fails_the_job_retryably(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    with running_media_stack(litellm, emulator, settings, catalog, blocker / "artifacts") as media:
        job = media.run("tts", {"text": "Nowhere to put this."}, model=OPENAI_TTS)

    assert job["status"] == "failed", job
    error = job["error"]
    assert (error["code"], error["status"], error["retryable"]) == ("artifact_store_unavailable", 503, True)
    assert "not-a-directory" not in error["message"]  # no host paths in a client's error
