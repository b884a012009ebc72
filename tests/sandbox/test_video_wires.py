"""The emulator's video wires spoken to directly: the MP4s (and the shipped fallback), the
job clock and its settings, fail_times counting, cancel/delete, input checks, the control
API's video list. Through the real proxy: test_video_through_litellm.py."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.emulator import video
from sandbox.emulator.behaviour import Behaviour, Directives
from sandbox.emulator.client import EmulatorClient
from sandbox.emulator.video_jobs import VideoStore, new_job
from tests.support.media_probe import probe

SORA = {"Authorization": "Bearer k"}
FAL = {"Authorization": "Key k"}
RUNWAY = {"Authorization": "Bearer k", "X-Runway-Version": "2024-11-06"}
GOOGLE = {"x-goog-api-key": "k"}
HEYGEN = {"X-Api-Key": "k"}


def _comment(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "default=nw=1:nk=1", str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    return out.stdout.strip()


# -- the MP4s -------------------------------------------------------------------------------
async def test_videos_are_h264_mp4_of_the_asked_length_and_size(tmp_path: Path) -> None:
    fox = await video.render("a fox [x]", 2.5, 640, 360)
    assert video.has_ftyp(fox)
    probed = probe(fox)
    assert (probed.codec, probed.width, probed.height) == ("h264", 640, 360)
    assert probed.duration == pytest.approx(2.5, abs=0.01)
    assert "mp4" in probed.format_name
    assert _comment(fox, tmp_path) == "a fox [x]"
    assert await video.render("a fox [x]", 2.5, 640, 360) == fox  # deterministic
    assert await video.render("an owl", 2.5, 640, 360) != fox
    assert await video.video("a fox [x]", 2.5, 640, 360) is await video.video("a fox [x]", 2.5, 640, 360)


@pytest.mark.parametrize(("seconds", "width", "height"), [(0, 640, 360), (1, 641, 360), (1, 0, 360), (500, 640, 360)])
async def test_impossible_videos_are_refused(seconds: float, width: int, height: int) -> None:
    with pytest.raises(video.MediaError):
        await video.render("x", seconds, width, height)


async def test_without_ffmpeg_the_shipped_mp4_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "ffmpeg_available", lambda: False)
    data = await video.render("a fox", 8, 1280, 720)
    assert data == video.fallback_mp4() and video.has_ftyp(data)
    probed = probe(data)
    assert (probed.codec, probed.width, probed.height) == ("h264", *video.FALLBACK_SIZE)
    assert probed.duration == pytest.approx(video.FALLBACK_SECONDS, abs=0.01)


# -- the job clock --------------------------------------------------------------------------
def test_a_job_goes_queued_in_progress_completed_by_the_clock() -> None:
    job = new_job(
        wire="openai",
        model="m",
        prompt="p",
        seconds=4,
        width=2,
        height=2,
        behaviour=Behaviour(video_seconds=10, video_queued_seconds=2),
        own=Directives(),
    )
    start = job.started
    assert job.progress(start + 1) == ("queued", 0.0)
    assert job.progress(start + 6) == ("in_progress", 0.5)
    assert job.progress(start + 10) == ("completed", 1.0)
    job.canceled = True
    assert job.progress(start + 10)[0] == "canceled"


def test_the_store_is_bounded() -> None:
    store = VideoStore(limit=2)
    jobs = [
        store.add(
            new_job(
                wire="fal",
                model="m",
                prompt="p",
                seconds=1,
                width=2,
                height=2,
                behaviour=Behaviour(),
                own=Directives(),
            )
        )
        for _ in range(3)
    ]
    assert store.get(jobs[0].id) is None and store.get(jobs[2].id, "fal") is jobs[2]
    assert store.get(jobs[2].id, "runway") is None and len(store) == 2


async def _sora(http: httpx.AsyncClient, prompt: str = "a fox", **fields: str) -> dict[str, Any]:
    form = {"model": "sora-2", "prompt": prompt, "seconds": "4", "size": "1280x720", **fields}
    response = await http.post("/openai/v1/videos", data=form, headers=SORA)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_openai_video_progress_and_content(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    created = await _sora(http, "a fox [emulate: video_seconds=1.2 video_queued_seconds=0.2]")
    assert (created["status"], created["progress"], created["seconds"], created["size"]) == (
        "queued",
        0,
        "4",
        "1280x720",
    )
    seen: list[tuple[str, int]] = []
    while not seen or seen[-1][0] != "completed":
        status = (await http.get(f"/openai/v1/videos/{created['id']}", headers=SORA)).json()
        seen.append((status["status"], status["progress"]))
        await asyncio.sleep(0.1)
    assert [s for i, (s, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != s] == [
        "queued",
        "in_progress",
        "completed",
    ]
    progress = [p for s, p in seen if s == "in_progress"]
    assert progress == sorted(progress) and len(set(progress)) > 1 and seen[-1][1] == 100
    content = await http.get(f"/openai/v1/videos/{created['id']}/content", headers=SORA)
    assert content.headers["content-type"] == "video/mp4"
    probed = probe(content.content)
    assert (probed.width, probed.height, probed.duration) == (1280, 720, pytest.approx(4.0, abs=0.01))
    [job] = emulator.videos(wire="openai")
    assert (job["phase"], job["generation_seconds"], job["model"]) == ("completed", 1.2, "sora-2")


async def test_fail_times_counts_only_the_requests_its_fault_concerns(
    http: httpx.AsyncClient, emulator: EmulatorClient
) -> None:
    emulator.set_model("sora-2", video_seconds=0, video_poll_status=503, fail_times=2)
    created = await _sora(http)  # a create is not a poll: it does not use up the two
    url = f"/openai/v1/videos/{created['id']}"
    assert (await http.get(f"{url}/content", headers=SORA)).status_code == 200
    assert [(await http.get(url, headers=SORA)).status_code for _ in range(3)] == [503, 503, 200]
    emulator.set_model("sora-2", video_seconds=0, video_content_status=404, fail_times=1)
    assert (await http.get(url, headers=SORA)).status_code == 200
    assert [(await http.get(f"{url}/content", headers=SORA)).status_code for _ in range(2)] == [404, 200]


async def test_never_finishing_forgotten_and_failed_videos(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("sora-2", video_seconds=0.2, video_never_finishes=True)
    stuck = await _sora(http)
    await asyncio.sleep(0.3)
    status = (await http.get(f"/openai/v1/videos/{stuck['id']}", headers=SORA)).json()
    assert (status["status"], status["progress"]) == ("in_progress", 95)
    emulator.set_model("sora-2", video_seconds=0.2)
    assert (await http.get(f"/openai/v1/videos/{stuck['id']}", headers=SORA)).json()["status"] == "completed"
    failed = await _sora(http, "a fox [emulate: video_fail]")  # one video only
    fine = await _sora(http)
    await asyncio.sleep(0.3)
    failed_status = (await http.get(f"/openai/v1/videos/{failed['id']}", headers=SORA)).json()
    assert failed_status["status"] == "failed" and failed_status["error"]["code"] == "video_generation_failed"
    assert (await http.get(f"/openai/v1/videos/{fine['id']}", headers=SORA)).json()["status"] == "completed"
    emulator.set_model("sora-2", video_forget=True)
    assert (await http.get(f"/openai/v1/videos/{fine['id']}", headers=SORA)).status_code == 404
    assert (await http.get(f"/openai/v1/videos/{fine['id']}/content", headers=SORA)).status_code == 404


async def test_openai_delete_list_and_input_checks(http: httpx.AsyncClient) -> None:
    first, second = await _sora(http), await _sora(http, "an owl")
    listed = (await http.get("/openai/v1/videos", headers=SORA)).json()
    assert [v["id"] for v in listed["data"]] == [second["id"], first["id"]]
    deleted = await http.delete(f"/openai/v1/videos/{first['id']}", headers=SORA)
    assert deleted.json() == {"id": first["id"], "object": "video.deleted", "deleted": True}
    assert (await http.get(f"/openai/v1/videos/{first['id']}", headers=SORA)).status_code == 404
    for field, value in (("seconds", "5"), ("size", "640x480")):
        bad = await http.post("/openai/v1/videos", data={"prompt": "x", field: value}, headers=SORA)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == field
    assert (await http.post("/openai/v1/videos", data={"prompt": "x"})).status_code == 401


async def test_fal_queue_wire(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("*", video_seconds=0.4)
    body = {"prompt": "a fox", "duration": "6", "resolution": "480p", "aspect_ratio": "9:16"}
    submitted = (await http.post("/fal/fal-ai/pika/v2.2/text-to-video", json=body, headers=FAL)).json()
    status_url = f"/fal/fal-ai/pika/requests/{submitted['request_id']}/status"
    assert submitted["status_url"].endswith(status_url)
    assert (await http.get(status_url, headers=FAL)).json()["status"] == "IN_QUEUE"
    assert (await http.get(status_url.removesuffix("/status"), headers=FAL)).status_code == 400  # not done yet
    await asyncio.sleep(0.5)
    assert (await http.get(status_url, headers=FAL)).json()["status"] == "COMPLETED"
    result = (await http.get(status_url.removesuffix("/status"), headers=FAL)).json()
    mp4 = await http.get(result["video"]["url"])  # no auth, like fal's CDN
    probed = probe(mp4.content)
    assert (probed.width, probed.height, probed.duration) == (480, 854, pytest.approx(6.0, abs=0.01))
    assert (
        await http.get(f"/fal/fal-ai/other/requests/{submitted['request_id']}/status", headers=FAL)
    ).status_code == 404
    no_image = await http.post("/fal/fal-ai/pika/v2.2/image-to-video", json={"prompt": "x"}, headers=FAL)
    assert no_image.status_code == 422 and "image_url" in no_image.json()["detail"]
    slow = (
        await http.post(
            "/fal/fal-ai/pika/v2.2/text-to-video", json={"prompt": "x [emulate: video_seconds=60]"}, headers=FAL
        )
    ).json()
    cancel = await http.put(f"/fal/fal-ai/pika/requests/{slow['request_id']}/cancel", headers=FAL)
    assert cancel.status_code == 202
    assert (await http.get(f"/fal/fal-ai/pika/requests/{slow['request_id']}", headers=FAL)).status_code == 400


async def test_runway_wire_and_its_cancel(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("*", video_seconds=60)
    body = {"model": "gen4.5", "promptText": "a fox", "ratio": "720:1280", "duration": 4}
    task = (await http.post("/runway/v1/text_to_video", json=body, headers=RUNWAY)).json()
    assert (await http.get(f"/runway/v1/tasks/{task['id']}", headers=RUNWAY)).json()["status"] == "PENDING"
    # LiteLLM's delete path does not exist at Runway; DELETE /tasks/{id} cancels.
    assert (await http.delete(f"/runway/v1/tasks/{task['id']}/cancel", headers=RUNWAY)).status_code == 404
    assert (await http.delete(f"/runway/v1/tasks/{task['id']}", headers=RUNWAY)).status_code == 204
    assert (await http.get(f"/runway/v1/tasks/{task['id']}", headers=RUNWAY)).json()["status"] == "CANCELLED"
    turbo = {"model": "gen4_turbo", "promptText": "a fox"}
    refused = await http.post("/runway/v1/text_to_video", json=turbo, headers=RUNWAY)
    assert refused.status_code == 400 and "image_to_video" in refused.json()["error"]
    no_version = await http.post("/runway/v1/text_to_video", json=body, headers={"Authorization": "Bearer k"})
    assert no_version.status_code == 400
    emulator.set_model("*", video_seconds=0.2)
    done = (
        await http.post("/runway/v1/image_to_video", json={**turbo, "promptImage": "https://x/y.png"}, headers=RUNWAY)
    ).json()
    await asyncio.sleep(0.3)
    finished = (await http.get(f"/runway/v1/tasks/{done['id']}", headers=RUNWAY)).json()
    assert finished["status"] == "SUCCEEDED" and probe((await http.get(finished["output"][0])).content).width == 1280


async def test_veo_wire_needs_the_key_for_the_download(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("*", video_seconds=0.2)
    body = {"instances": [{"prompt": "a fox"}], "parameters": {"aspectRatio": "9:16", "durationSeconds": 4}}
    created = await http.post(
        "/gemini/v1beta/models/veo-3.1-generate-001:predictLongRunning", json=body, headers=GOOGLE
    )
    name = created.json()["name"]
    assert name.startswith("models/veo-3.1-generate-001/operations/")
    assert (await http.get(f"/gemini/v1beta/{name}", headers=GOOGLE)).json() == {"name": name, "done": False}
    await asyncio.sleep(0.3)
    done = (await http.get(f"/gemini/v1beta/{name}", headers=GOOGLE)).json()
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    assert (await http.get(uri)).status_code == 403
    probed = probe((await http.get(uri, headers=GOOGLE)).content)
    assert (probed.width, probed.height, probed.duration) == (720, 1280, pytest.approx(4.0, abs=0.01))
    bad = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}}
    refused = await http.post("/gemini/v1beta/models/veo-3.1-generate-001:predictLongRunning", json=bad, headers=GOOGLE)
    assert refused.status_code == 400


async def test_heygen_wire_checks_its_inputs(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    bad = {"video_inputs": [{"character": {"type": "avatar"}, "voice": {"type": "text", "input_text": "hi"}}]}
    refused = await http.post("/heygen/v2/video/generate", json=bad, headers=HEYGEN)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_parameter"
    assert (await http.post("/heygen/v2/video/generate", json=bad)).status_code == 401
    missing = await http.get("/heygen/v1/video_status.get", params={"video_id": "nope"}, headers=HEYGEN)
    assert missing.status_code == 404 and missing.json()["data"] is None
    assert emulator.videos() == []


async def test_tagged_videos_share_one_render_and_count_their_polls(
    http: httpx.AsyncClient, emulator: EmulatorClient
) -> None:
    """A benchmark's jobs: the same prompt (one MP4 rendered), told apart by their tag."""
    emulator.set_model("sora-2", video_seconds=0)
    first = await _sora(http, "a fox [emulate: tag=job-1]")
    await _sora(http, "a fox [emulate: tag=job-2]")
    for _ in range(3):
        await http.get(f"/openai/v1/videos/{first['id']}", headers=SORA)
    one = await http.get(f"/openai/v1/videos/{first['id']}/content", headers=SORA)
    [job] = emulator.videos(tag="job-1")
    assert (job["prompt"], job["polls"], job["downloads"]) == ("a fox", 3, 1)
    [other] = emulator.videos(tag="job-2")
    two = await http.get(f"/openai/v1/videos/video_{other['id']}/content", headers=SORA)
    assert one.content == two.content


async def test_reset_clears_the_videos(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    await _sora(http)
    assert len(emulator.videos(model="sora-2")) == 1 and emulator.videos(wire="fal") == []
    emulator.reset()
    assert emulator.videos() == []


def test_video_settings_are_validated(emulator: EmulatorClient) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        emulator.set_model("sora-2", video_poll_status=200)
    with pytest.raises(httpx.HTTPStatusError):
        emulator.set_model("sora-2", video_seconds=-1)
    assert emulator.set_model("sora-2", video_seconds=2.5, video_forget=True)["settings"] == {
        "video_seconds": 2.5,
        "video_forget": True,
    }


def test_many_videos_in_flight_cost_nothing_to_poll() -> None:
    """1,000 jobs: the clock is read, nothing is rendered until a download."""
    store = VideoStore()
    started = time.perf_counter()
    for _ in range(1000):
        store.add(
            new_job(
                wire="fal",
                model="m",
                prompt="p",
                seconds=5,
                width=1280,
                height=720,
                behaviour=Behaviour(video_seconds=60),
                own=Directives(),
            )
        )
    phases = {job.progress()[0] for job in store.of_wire("fal")}
    assert phases == {"queued"} and time.perf_counter() - started < 1.0
