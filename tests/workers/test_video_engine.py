"""The video engine in one process: the handler and the poller against the real Redis and a
real local artifact store, with LiteLLM's `/v1/videos` wire (as the wire map records it:
create answers an id, status a VideoObject with `progress` in percent, content the bytes,
404 for an id the provider forgot) served by a small in-test stand-in. The full chain through
the real LiteLLM and the emulator is in test_video_e2e.py.

What is checked: one create per job, also when the job is run again (a worker that died
after the create); a create whose answer was lost is never repeated; progress events; the
MP4 stored with its duration and size; the named errors (video_timeout, video_lost); cancel
reaching a video that waits in the poll schedule, with the provider's DELETE only where the
catalog says it can cancel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from artifacts import LocalStore, UrlSigner
from catalog import Catalog
from metrics.definitions import WorkerMetrics
from queues import keys, schedule, store, videos
from queues.breakers import BreakerView
from queues.events import STREAM_START, read_events
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job
from workers import video_handler
from workers._video_wires import VideoWires
from workers.context import HANDED_OFF, JobContext
from workers.errors import JobFailed
from workers.fallback import ChainWalker
from workers.litellm import LiteLLMClient
from workers.media import MediaDeps, MediaTimeouts
from workers.video_handler import VideoHandler
from workers.video_poller import VideoPoller

CLIP = Path(__file__).resolve().parents[1] / "artifacts" / "samples" / "clip.mp4"
VEO = {
    "id": "gemini/veo-3.1-fast-generate-001",
    "provider": "gemini",
    "provider_id": "gemini/veo-3.1-fast-generate-001",
}
RUNWAY = {"id": "runwayml/gen4.5", "provider": "runwayml", "provider_id": "runwayml/gen4.5"}


@dataclass
class VideosWire:
    """LiteLLM's video endpoints as the proxy answers them, with the faults the tests need."""

    polls_to_finish: int = 2
    never_finishes: bool = False
    forgets: bool = False
    content: bytes = field(default_factory=CLIP.read_bytes)
    create_status: int = 200
    creates: list[dict[str, str]] = field(default_factory=list)
    status_calls: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/videos":
            assert request.headers["content-type"].startswith("multipart/form-data")
            if self.create_status != 200:
                return httpx.Response(self.create_status, json={"error": {"message": "litellm.APIError: busy"}})
            self.creates.append(_form_fields(request))
            return httpx.Response(200, json={"id": f"video_{len(self.creates)}", "object": "video", "status": "queued"})
        video_id = path.split("/")[3]
        if self.forgets:
            return httpx.Response(404, json={"error": {"message": "video not found"}})
        if request.method == "DELETE":
            self.deletes.append(video_id)
            return httpx.Response(200, json={"id": video_id, "object": "video", "deleted": True})
        if path.endswith("/content"):
            return httpx.Response(200, content=self.content, headers={"content-type": "video/mp4"})
        self.status_calls.append(video_id)
        polls = self.status_calls.count(video_id)
        if self.never_finishes or polls < self.polls_to_finish:
            progress = min(99, 100 * polls // (self.polls_to_finish + 1))
            return httpx.Response(200, json={"id": "video_reencoded", "status": "in_progress", "progress": progress})
        return httpx.Response(200, json={"id": "video_reencoded", "status": "completed", "progress": 100})


def _form_fields(request: httpx.Request) -> dict[str, str]:
    body = request.read().decode(errors="replace")
    boundary = request.headers["content-type"].split("boundary=")[1]
    fields = {}
    for part in body.split(f"--{boundary}"):
        head, _, value = part.partition("\r\n\r\n")
        if 'name="' in head:
            fields[head.split('name="')[1].split('"')[0]] = value.removesuffix("\r\n")
    return fields


@dataclass
class Engine:
    redis: Redis
    wire: VideosWire
    handler: VideoHandler
    poller: VideoPoller
    store: LocalStore

    async def submit(self, job_input: dict[str, Any], chain: list[dict[str, str]]) -> JobContext:
        params = {"chain": chain}
        record, _ = await submit_job(
            self.redis,
            Submission(
                task="video_generate",
                queue="media",
                input_json=msgspec.json.encode(job_input),
                params_json=msgspec.json.encode(params),
                owner="owner",
            ),
        )
        # Taken by a worker (what `queues.claim` writes): a handed-off video job is `processing`.
        await self.redis.hset(keys.job(record.id), "status", "processing")  # type: ignore[misc]
        return JobContext(
            job_id=record.id,
            task="video_generate",
            queue="media",
            attempt=1,
            input=job_input,
            params=params,
            redis=self.redis,
            retention=DEFAULT_RETENTION,
        )

    async def poll_until_final(self, job_id: str, within_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for due, _ in await schedule.claim_due(self.redis, keys.VIDEO_POLLS, lease_s=60, limit=10):
                await self.poller.poll(due)
            record = await store.get_job(self.redis, job_id)
            assert record is not None
            if record.is_final:
                return msgspec.to_builtins(record)  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} did not end")


@pytest.fixture
async def engine(clean_redis: str, catalog: Catalog, tmp_path: Path) -> AsyncIterator[Engine]:
    redis = connect(clean_redis)
    wire = VideosWire()
    litellm = LiteLLMClient(httpx.AsyncClient(transport=httpx.MockTransport(wire), base_url="http://litellm"))
    downloads = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404)))
    local = LocalStore(tmp_path / "artifacts", UrlSigner(b"video-engine-test-signing-key-0123456789"))
    deps = MediaDeps(litellm, local, MediaTimeouts(embed_s=5, image_s=5, speech_s=5, transcribe_s=5), 1 << 20)
    walker = ChainWalker(redis, WorkerMetrics(), BreakerView(redis, cool_off_s=1), video_handler.OPERATION)
    handler = VideoHandler(deps, walker, catalog, downloads, first_poll_s=0)
    poller = VideoPoller(
        redis, VideoWires(litellm, downloads), local, DEFAULT_RETENTION, min_interval_s=0, max_interval_s=0
    )
    try:
        yield Engine(redis, wire, handler, poller, local)
    finally:
        await litellm.close()
        await downloads.aclose()
        await local.aclose()
        await redis.aclose()


async def events_of(redis: Redis, job_id: str) -> list[tuple[str, Any]]:
    return [(event.type, event.data) for event in await read_events(redis, job_id, STREAM_START, count=1000)]


async def test_created_once_polled_and_stored_with_its_duration_and_size(engine: Engine) -> None:
    job = await engine.submit({"prompt": "a cat on a wall", "seconds": 4, "aspect_ratio": "9:16"}, [VEO])
    assert await engine.handler(job) is HANDED_OFF

    video = await videos.get(engine.redis, job.job_id)
    assert video is not None and video.provider_video_id == "video_1" and video.model == VEO["id"]
    assert await schedule.pending(engine.redis, keys.VIDEO_POLLS) == 1
    assert engine.wire.creates == [
        {"model": VEO["provider_id"], "prompt": "a cat on a wall", "size": "720x1280", "seconds": "4"}
    ]

    done = await engine.poll_until_final(job.job_id)
    assert done["status"] == "succeeded", done
    output = done["output"]
    assert output["model"] == VEO["id"] and output["provider_video_id"] == "video_1"
    (artifact,) = output["artifacts"]
    assert artifact["name"] == "video.mp4" and artifact["content_type"] == "video/mp4"
    assert artifact["bytes"] == len(engine.wire.content)
    probed = artifact["metadata"]
    assert probed["width"] > 0 and probed["height"] > 0 and probed["duration_s"] > 0
    assert output["size"] == f"{probed['width']}x{probed['height']}" and output["seconds"] == probed["duration_s"]
    # Polled with the create's id, never the re-encoded one the status answers carry.
    assert set(engine.wire.status_calls) == {"video_1"}
    assert len(engine.wire.creates) == 1
    assert await schedule.pending(engine.redis, keys.VIDEO_POLLS) == 0

    progress = [data for kind, data in await events_of(engine.redis, job.job_id) if kind == "progress"]
    assert progress and progress[-1]["message"] == "in_progress" and 0 < progress[-1]["progress"] < 1


async def test_a_job_run_again_after_the_create_never_creates_again(engine: Engine) -> None:
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    await engine.handler(job)
    await schedule.remove(engine.redis, keys.VIDEO_POLLS, job.job_id)  # as if the worker died before scheduling
    assert await engine.handler(dataclasses.replace(job, attempt=2)) is HANDED_OFF
    assert await schedule.pending(engine.redis, keys.VIDEO_POLLS) == 1
    assert (await engine.poll_until_final(job.job_id))["status"] == "succeeded"
    assert len(engine.wire.creates) == 1


async def test_a_create_whose_answer_was_lost_is_not_repeated(engine: Engine) -> None:
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    # A worker marked the create and died before writing the provider's answer.
    assert await videos.begin_create(engine.redis, job.job_id, model=VEO["id"], provider="gemini", provider_id="x")
    with pytest.raises(JobFailed) as failed:
        await engine.handler(job)
    assert failed.value.error.code == "video_create_interrupted"
    assert engine.wire.creates == []


async def test_a_refused_create_falls_back_to_the_next_model(engine: Engine) -> None:
    engine.wire.create_status = 503
    job = await engine.submit({"prompt": "a cat", "seconds": 8}, [VEO, RUNWAY])
    with pytest.raises(JobFailed) as failed:
        await engine.handler(job)
    assert failed.value.error.code == "upstream_error"
    assert await videos.get(engine.redis, job.job_id) is None  # nothing made: a later attempt may create


async def test_a_video_the_provider_forgot_is_lost_not_created_again(engine: Engine) -> None:
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    await engine.handler(job)
    engine.wire.forgets = True
    done = await engine.poll_until_final(job.job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "video_lost"
    assert len(engine.wire.creates) == 1


async def test_past_the_models_maximum_time_the_job_fails_video_timeout(engine: Engine) -> None:
    engine.wire.never_finishes = True
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    await engine.handler(job)
    for _ in range(3):
        for due, _ in await schedule.claim_due(engine.redis, keys.VIDEO_POLLS, lease_s=60, limit=10):
            await engine.poller.poll(due)
    assert not (await store.get_job(engine.redis, job.job_id)).is_final  # type: ignore[union-attr]
    # Time passes beyond Veo's maximum generation time (600 s in the catalog).
    await engine.redis.hset(keys.video(job.job_id), "deadline_at", repr(time.time() - 1))  # type: ignore[misc]
    done = await engine.poll_until_final(job.job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "video_timeout"
    assert "600 s" in done["error"]["message"]
    assert engine.wire.deletes == []  # Veo cannot cancel: polling just stops


@pytest.mark.parametrize("provider_can_cancel", [False, True])
async def test_a_cancel_reaches_a_video_waiting_to_be_polled(engine: Engine, provider_can_cancel: bool) -> None:
    engine.wire.never_finishes = True
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    await engine.handler(job)
    if provider_can_cancel:
        await engine.redis.hset(keys.video(job.job_id), "cancel", "1")  # type: ignore[misc]
    await schedule.reschedule(engine.redis, keys.VIDEO_POLLS, job.job_id, delay_s=3600)  # a long wait
    await store.request_cancel(engine.redis, job.job_id, retention=DEFAULT_RETENTION)
    engine.poller.cancel_requested(job.job_id)  # what a media worker does on the cancel channel
    done = await engine.poll_until_final(job.job_id, within_s=5)
    assert done["status"] == "canceled"
    assert engine.wire.deletes == (["video_1"] if provider_can_cancel else [])
    assert await schedule.pending(engine.redis, keys.VIDEO_POLLS) == 0


async def test_content_that_is_not_an_mp4_fails_the_job(engine: Engine) -> None:
    engine.wire.content = b"<html>not a video</html>" * 10
    job = await engine.submit({"prompt": "a cat"}, [VEO])
    await engine.handler(job)
    done = await engine.poll_until_final(job.job_id)
    assert done["status"] == "failed" and done["error"]["code"] == "bad_upstream_response"
    assert await engine.store.list_artifacts(job.job_id) == []


async def test_the_poller_loop_keeps_many_videos_in_flight_without_a_slot_each(engine: Engine) -> None:
    jobs = [await engine.submit({"prompt": f"cat {i}"}, [VEO]) for i in range(40)]
    for job in jobs:
        await engine.handler(job)
    runner = asyncio.create_task(engine.poller.run())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [await store.get_job(engine.redis, job.job_id) for job in jobs]
            if all(state is not None and state.is_final for state in states):
                break
            await asyncio.sleep(0.1)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [state.status for state in states if state is not None] == ["succeeded"] * 40
    assert len(engine.wire.creates) == 40
    assert json.dumps(sorted(c["prompt"] for c in engine.wire.creates)) == json.dumps(
        sorted(f"cat {i}" for i in range(40))
    )
