"""Video jobs for real: gateway → Redis → media worker (handler, then its poller) → the real
LiteLLM (`/v1/videos`, the `/heygen` pass-through) → the emulator's video wires, artifacts in a
directory of the test's own. The emulator's request log is the provider's bill: one create
per job, whatever happens to the worker."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import redis
import yaml

from catalog import Catalog
from queues import keys
from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from sandbox.emulator.litellm_config import upstream_models
from sandbox.litellm_proxy import litellm_executable, offline_env, start_litellm
from sandbox.processes import free_port, stop_process
from tests.support.jobs import job_state, wait_final, wait_for_job
from tests.support.litellm import LiteLLMProxy, project_litellm_config
from tests.support.media_stack import MediaStack, probe, running_media_stack
from tests.support.waiting import wait_until

VEO = "gemini/veo-3.1-fast-generate-001"
GEN4_TURBO = "runwayml/gen4_turbo"
AVATAR = "heygen/avatar-iii"
SAMPLES = Path(__file__).resolve().parents[1] / "artifacts" / "samples"


def creates(media: MediaStack, model_id: str) -> list[dict[str, Any]]:
    """The create calls the provider saw for the model (every video wire creates by POST).
    HeyGen has no LiteLLM deployment: the emulator names its models without the prefix."""
    upstream = model_id.removeprefix("heygen/") if model_id.startswith("heygen/") else media.upstream_name(model_id)
    return [r for r in media.stack.emulator.requests() if r["method"] == "POST" and upstream in (r.get("model") or "")]


def video_record(media: MediaStack, job_id: str) -> dict[str, str]:
    client = redis.Redis.from_url(media.stack.redis_url)
    try:
        raw = client.hgetall(keys.video(job_id))
    finally:
        client.close()
    return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]


def sse_events(media: MediaStack, job_id: str) -> list[str]:
    text = media.api.get(f"/api/jobs/{job_id}/events").text
    return [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]


def test_a_video_is_created_once_polled_and_stored(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(VEO), video_seconds=6)
    job_id = media.submit("video_generate", {"prompt": "a lighthouse at dusk", "seconds": 4}, model=VEO)

    # While the provider works: the video exists, the job is processing with no worker slot
    # held, and its progress events come from the status changes (Veo reports no figure).
    assert wait_until(lambda: bool(video_record(media, job_id).get("provider_video_id")), timeout=20)
    assert job_state(media.api, job_id)["status"] == "processing"

    job = wait_final(media.api, job_id, timeout=60)
    assert job["status"] == "succeeded", job["error"]
    output = job["output"]
    assert output["model"] == VEO and output["provider_video_id"] == video_record(media, job_id)["provider_video_id"]
    [artifact] = output["artifacts"]
    assert artifact["name"] == "video.mp4" and artifact["content_type"] == "video/mp4"
    content = media.read_artifact(job_id, "video.mp4")
    assert content[4:8] == b"ftyp"
    streams = probe(content)["streams"]
    video_stream = next(s for s in streams if s["codec_type"] == "video")
    assert output["size"] == f"{video_stream['width']}x{video_stream['height']}"
    assert abs(output["seconds"] - 4) < 0.5
    assert len(creates(media, VEO)) == 1
    events = sse_events(media, job_id)
    assert "progress" in events and events[-1] == "done"


def test_the_providers_progress_is_the_jobs(media: MediaStack) -> None:
    model = "runwayml/gen4.5"  # Runway reports progress (0..1; LiteLLM answers it in percent)
    media.stack.emulator.set_model(media.upstream_name(model), video_seconds=12, video_queued_seconds=0)
    job_id = media.submit("video_generate", {"prompt": "waves", "seconds": 5}, model=model)
    state = wait_for_job(media.api, job_id, lambda s: s["status"] == "processing" and 0 < (s["progress"] or 0) < 1, 30)
    assert state["output"] is None
    job = wait_final(media.api, job_id, timeout=60)
    assert job["status"] == "succeeded", job["error"]
    assert len(creates(media, model)) == 1


def test_kill_9_of_the_media_worker_with_videos_in_flight(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(VEO), video_seconds=20)
    jobs = [media.submit("video_generate", {"prompt": f"scene {i}"}, model=VEO) for i in range(100)]
    # Every create answered and recorded: the videos exist at the provider, none is done.
    assert wait_until(lambda: all(video_record(media, j).get("provider_video_id") for j in jobs), timeout=60)
    assert not any(job_state(media.api, j)["status"] == "succeeded" for j in jobs)

    os.kill(media.worker_pid("media"), signal.SIGKILL)
    replacement = media.start_worker("media")
    try:
        finished = [wait_final(media.api, job_id, timeout=120) for job_id in jobs]
    finally:
        replacement.stop()

    assert [job["status"] for job in finished] == ["succeeded"] * len(jobs), [j.get("error") for j in finished]
    assert len(creates(media, VEO)) == len(jobs)
    prompts = sorted(str(call["body"]) for call in creates(media, VEO))
    assert len(set(prompts)) == len(jobs)  # one create per job, none twice


def test_a_cancel_stops_the_polling_and_ends_the_job(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(VEO), video_never_finishes=True)
    job_id = media.submit("video_generate", {"prompt": "an endless road"}, model=VEO)
    assert wait_until(lambda: int(video_record(media, job_id).get("polls", "0")) > 0, timeout=20)

    started = time.monotonic()
    assert media.api.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait_final(media.api, job_id, timeout=10)
    assert job["status"] == "canceled"
    assert time.monotonic() - started < 5  # not the next poll's 30 s
    polls = video_record(media, job_id)["polls"]
    time.sleep(3)
    assert video_record(media, job_id)["polls"] == polls  # nothing polls it any more
    assert len(creates(media, VEO)) == 1


def test_the_provider_forgets_the_video(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(VEO), video_seconds=30)
    job_id = media.submit("video_generate", {"prompt": "a forgotten film"}, model=VEO)
    assert wait_until(lambda: bool(video_record(media, job_id).get("provider_video_id")), timeout=20)
    media.stack.emulator.set_model(media.upstream_name(VEO), video_seconds=30, video_forget=True)

    job = wait_final(media.api, job_id, timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "video_lost", job
    assert len(creates(media, VEO)) == 1


def test_past_the_models_maximum_generation_time(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(VEO), video_never_finishes=True)
    job_id = media.submit("video_generate", {"prompt": "a slow film"}, model=VEO)
    assert wait_until(lambda: bool(video_record(media, job_id).get("provider_video_id")), timeout=20)
    # Veo's 600 s pass: the deadline the handler wrote moves into the past.
    client = redis.Redis.from_url(media.stack.redis_url)
    try:
        client.hset(keys.video(job_id), "deadline_at", repr(time.time() - 1))
    finally:
        client.close()
    job = wait_final(media.api, job_id, timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "video_timeout", job
    assert "600 s" in job["error"]["message"]


def test_image_to_video_from_an_upload(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(GEN4_TURBO), video_seconds=3)
    file_id = media.upload((SAMPLES / "image.png").read_bytes(), "first-frame.png")
    job = media.run(
        "video_generate",
        {"prompt": "the scene comes alive", "image": {"file_id": file_id}, "seconds": 5},
        timeout=60,
        model=GEN4_TURBO,
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] == GEN4_TURBO
    [create] = creates(media, GEN4_TURBO)
    assert create["path"].endswith("/image_to_video")


def test_a_heygen_avatar_video(media: MediaStack) -> None:
    script = "Hello, and welcome to the product tour."
    job = media.run(
        "video_generate",
        {"prompt": script, "avatar_id": "Daisy-inskirt-20220818", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54"},
        timeout=90,
        model=AVATAR,
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["artifacts"][0]["name"] == "video.mp4"
    assert len(creates(media, AVATAR)) == 1
    assert job_state(media.api, job["id"])["output"]["seconds"] > 0


def test_litellm_restarted_mid_poll(
    emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """LiteLLM goes away while videos are being polled and comes back on the same address:
    the polls in between fail, are waited out, and every video finishes with one create."""
    config = project_litellm_config(emulator.base_url)
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(config))
    master_key = "sk-test-" + secrets.token_hex(8)
    env = offline_env(config, master_key)
    port = free_port()
    process = start_litellm(path, port, env, log=tmp_path / "litellm-1.log", executable=litellm_executable())
    try:
        proxy = LiteLLMProxy(f"http://127.0.0.1:{port}", master_key, process.pid, tmp_path, upstream_models(config), 0)
        with running_media_stack(proxy, emulator, settings, catalog, tmp_path / "artifacts") as media:
            media.stack.emulator.set_model(media.upstream_name(VEO), video_seconds=15)
            jobs = [media.submit("video_generate", {"prompt": f"take {i}"}, model=VEO) for i in range(5)]
            assert wait_until(lambda: all(video_record(media, j).get("provider_video_id") for j in jobs), timeout=30)
            assert wait_until(lambda: all(int(video_record(media, j).get("polls", "0")) > 0 for j in jobs), timeout=30)

            stop_process(process)
            time.sleep(3)  # polls meanwhile find nobody listening
            process = start_litellm(path, port, env, log=tmp_path / "litellm-2.log", executable=litellm_executable())

            finished = [wait_final(media.api, job_id, timeout=120) for job_id in jobs]
            assert [job["status"] for job in finished] == ["succeeded"] * len(jobs), [j["error"] for j in finished]
            assert len(creates(media, VEO)) == len(jobs)
    finally:
        stop_process(process)
