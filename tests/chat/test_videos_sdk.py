"""The Videos API as platforms call it: the real `openai` SDK's `client.videos` (create as its
multipart form, retrieve, create_and_poll, download_content, delete, list with its cursor
pages), with only base_url and api_key set, against a real gateway, Redis and media worker
(tests/support/video_handlers.py stands in for the video engine and stores a real MP4)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import openai
import pytest
import redis

from api.app import create_app
from catalog import Catalog
from queues import keys
from queues.settings import Secret, Settings
from sandbox.emulator.client import EmulatorClient
from tests.support.artifacts import sample
from tests.support.auth import AUTH, OTHER_API_KEY, TEST_API_KEY
from tests.support.chat_stack import Stack
from tests.support.media_probe import probe
from tests.support.servers import running_server
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

CLIP = sample("clip.mp4")
PNG = sample("image.png")


@pytest.fixture
def video_gateway(settings: Settings, catalog: Catalog, tmp_path: Path) -> Iterator[str]:
    """A gateway and a media worker sharing a real artifact directory."""
    shared = msgspec.structs.replace(
        settings,
        artifacts_url=(tmp_path / "artifacts").as_uri(),
        artifacts_signing_key=Secret("videos-sdk-test-signing-key-0123456789"),
    )
    env = {
        "MPC_ARTIFACTS_URL": shared.artifacts_url,
        "MPC_ARTIFACTS_SIGNING_KEY": shared.artifacts_signing_key.reveal(),
    }
    worker = WorkerProcess(shared.redis_url, "media", handlers="tests.support.video_handlers", extra_env=env)
    try:
        worker.wait_ready()
        with running_server(create_app(shared, catalog)) as base_url:
            yield base_url
    finally:
        worker.stop(signal.SIGKILL)


def client(base_url: str, key: str = TEST_API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/api", api_key=key, max_retries=0, timeout=30)


def test_create_poll_download_delete(video_gateway: str) -> None:
    sdk = client(video_gateway)
    created = sdk.videos.create(prompt="a lighthouse at dusk", seconds="4", size="1280x720")
    assert created.id.startswith("job_") and created.object == "video"
    assert (created.status, created.progress, created.seconds, created.size) == ("queued", 0, "4", "1280x720")
    done = sdk.videos.poll(created.id, poll_interval_ms=100)
    assert (done.status, done.progress, done.error) == ("completed", 100, None)
    assert done.model == created.model and done.completed_at is not None
    assert sdk.videos.retrieve(created.id) == done
    content = sdk.videos.download_content(created.id)
    assert content.content == CLIP
    assert probe(content.content).width == 16
    deleted = sdk.videos.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError) as gone:
        sdk.videos.retrieve(created.id)
    assert gone.value.code == "video_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.videos.download_content(created.id)


def test_create_and_poll_with_an_input_reference_and_steering(video_gateway: str) -> None:
    sdk = client(video_gateway)
    video = sdk.videos.create_and_poll(
        prompt="the picture, moving",
        input_reference=("still.png", PNG, "image/png"),
        poll_interval_ms=100,
        extra_body={"tier": "draft", "providers": {"allow": ["pika"]}},
    )
    assert video.status == "completed"
    assert video.model.startswith("pika/")


def test_failures_and_refusals_as_sdk_errors(video_gateway: str) -> None:
    sdk = client(video_gateway)
    failed = sdk.videos.create_and_poll(prompt="[fail] refused", poll_interval_ms=100)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "upstream_bad_request"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.videos.create(prompt="x", seconds="four")  # type: ignore[arg-type]
    assert bad.value.param == "seconds"
    with pytest.raises(openai.UnprocessableEntityError) as steering:
        sdk.videos.create(prompt="x", extra_body={"tier": "premium"})
    assert steering.value.param == "tier"
    mine = sdk.videos.create(prompt="mine")
    other = client(video_gateway, OTHER_API_KEY)
    with pytest.raises(openai.NotFoundError):
        other.videos.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.videos.delete(mine.id)
    assert other.videos.list().data == []


def test_list_pages_through_every_video(video_gateway: str) -> None:
    sdk = client(video_gateway)
    made = [sdk.videos.create(prompt=f"video {n}").id for n in range(5)]
    first = sdk.videos.list(limit=2)
    assert [v.id for v in first.data] == made[::-1][:2] and first.has_more
    assert [v.id for v in sdk.videos.list(limit=2)] == made[::-1]  # the SDK follows `after` itself
    assert [v.id for v in sdk.videos.list(limit=3, order="asc")] == made
    sdk.videos.delete(made[2])
    assert [v.id for v in sdk.videos.list(limit=2)] == [made[4], made[3], made[1], made[0]]


# Through the real stack: the video engine in a media worker, the real LiteLLM proxy and the
# emulator's video wires (the emulator's request log is the provider's bill).
VEO = "gemini/veo-3.1-fast-generate-001"
VEO_UPSTREAM = "veo-3.1-fast-generate-001"


def provider_creates(emulator: EmulatorClient) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and VEO_UPSTREAM in (r.get("model") or "")]


@pytest.mark.slow
def test_the_sdk_through_the_real_video_engine(media_stack: Stack) -> None:
    sdk = client(media_stack.base_url)
    emulator = media_stack.emulator
    emulator.set_model(VEO_UPSTREAM, video_seconds=3)
    video = sdk.videos.create_and_poll(
        prompt="a lighthouse at dusk", model=VEO, seconds="4", size="1280x720", poll_interval_ms=250
    )
    assert (video.status, video.progress, video.error, video.model) == ("completed", 100, None, VEO)
    assert abs(float(video.seconds) - 4) < 0.5 and video.size == "1280x720"
    content = sdk.videos.download_content(video.id).content
    played = probe(content)
    assert (played.width, played.height) == (1280, 720) and played.codec == "h264"
    assert len(provider_creates(emulator)) == 1
    assert [v.id for v in sdk.videos.list()] == [video.id]
    db = redis.Redis.from_url(media_stack.redis_url)
    try:
        assert db.exists(keys.video(video.id))
        sdk.videos.delete(video.id)
        assert not db.exists(keys.video(video.id), keys.job(video.id))  # the provider's ids go too
    finally:
        db.close()
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)

    # A video deleted while the provider works on it: canceled, its polling stopped, and no
    # second create (LiteLLM's proxy forwards no cancel: the README's provider table).
    emulator.set_model(VEO_UPSTREAM, video_seconds=60)
    running = sdk.videos.create(prompt="a long one", model=VEO, seconds="4")
    assert wait_until(lambda: len(provider_creates(emulator)) == 2, timeout=20)  # the provider has it
    while_running = sdk.videos.retrieve(running.id)
    assert while_running.status in ("queued", "in_progress") and while_running.model == VEO
    assert sdk.videos.delete(running.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(running.id)
    with httpx.Client(base_url=media_stack.base_url, headers=AUTH, timeout=10) as api:
        assert wait_until(lambda: api.get(f"/api/jobs/{running.id}").json()["status"] == "canceled", timeout=10)
    assert len(provider_creates(emulator)) == 2  # one per video, never a second
    assert [r for r in emulator.requests() if r["method"] == "DELETE"] == []
