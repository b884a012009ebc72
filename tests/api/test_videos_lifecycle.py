"""A video's life through the Videos API with a real media worker (tests/support/
video_handlers.py stands in for the video engine: progress, then a real MP4 through the real
artifact store): retrieve while it runs, progress over SSE, the content with Range and ETag,
delete of a finished video, cancel by delete while it runs, and a failure's error."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from queues.settings import Settings
from tests.support.artifacts import sample
from tests.support.envelopes import assert_envelope
from tests.support.media_probe import probe
from tests.support.waiting import wait_until
from tests.support.workers import WorkerProcess

CLIP = sample("clip.mp4")


@pytest.fixture
def video_worker(media_settings: Settings) -> Iterator[WorkerProcess]:
    env = {
        "MPC_ARTIFACTS_URL": media_settings.artifacts_url,
        "MPC_ARTIFACTS_SIGNING_KEY": media_settings.artifacts_signing_key.reveal(),
    }
    worker = WorkerProcess(media_settings.redis_url, "media", handlers="tests.support.video_handlers", extra_env=env)
    worker.wait_ready()
    yield worker
    worker.stop(signal.SIGKILL)


def create(client: httpx.Client, prompt: str) -> dict[str, Any]:
    response = client.post("/api/videos", data={"prompt": prompt}, files=[("_", (None, b""))])
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


def settled(client: httpx.Client, video_id: str, timeout: float = 20) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(client.get(f"/api/videos/{video_id}").json())
        return seen["status"] in ("completed", "failed")

    assert wait_until(done, timeout=timeout, interval=0.1), seen
    return seen


def artifact_dirs(media_settings: Settings, job_id: str) -> list[Path]:
    root = Path(media_settings.artifacts_url.removeprefix("file://"))
    return list((root / job_id).rglob("record.json"))


def test_a_video_completes_and_its_mp4_downloads(
    media_client: httpx.Client, media_settings: Settings, video_worker: WorkerProcess
) -> None:
    video = create(media_client, "a lighthouse at dusk")
    done = settled(media_client, video["id"])
    assert (done["status"], done["progress"], done["error"]) == ("completed", 100, None)
    assert (done["seconds"], done["size"], done["model"]) == ("0.1", "16x16", video["model"])
    assert done["completed_at"] >= done["created_at"] and done["expires_at"] > done["completed_at"]
    path = f"/api/videos/{video['id']}/content"
    whole = media_client.get(path)
    assert whole.status_code == 200 and whole.content == CLIP
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-disposition"] == f'attachment; filename="{video["id"]}.mp4"'
    played = probe(whole.content)
    assert (played.width, played.height) == (16, 16)
    part = media_client.get(path, params={"variant": "video"}, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == CLIP[4:12] and part.content.startswith(b"ftyp")
    assert part.headers["content-range"] == f"bytes 4-11/{len(CLIP)}"
    assert media_client.get(path, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
    outside = media_client.get(path, headers={"Range": f"bytes={len(CLIP)}-"})
    assert_envelope(outside, 416, "range_not_satisfiable")
    # The same job, with its artifact, through the jobs API.
    job = media_client.get(f"/api/jobs/{video['id']}").json()
    assert job["status"] == "succeeded" and job["output"]["artifacts"][0]["name"] == "video.mp4"


def test_progress_is_seen_while_it_runs_and_over_sse(media_client: httpx.Client, video_worker: WorkerProcess) -> None:
    video = create(media_client, "[slow] waves")
    seen: dict[str, Any] = {}

    def moving() -> bool:
        seen.update(media_client.get(f"/api/videos/{video['id']}").json())
        return bool(seen["status"] == "in_progress" and seen["progress"] >= 1)

    assert wait_until(moving, timeout=15, interval=0.1), seen
    assert seen["progress"] < 100 and seen["completed_at"] is None
    with media_client.stream("GET", f"/api/jobs/{video['id']}/events", timeout=10) as events:
        lines = events.iter_lines()
        kinds = []
        for line in lines:
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
            if kinds.count("progress") >= 3:
                break
    assert kinds[0] == "status" and "progress" in kinds
    later = media_client.get(f"/api/videos/{video['id']}").json()
    assert later["progress"] >= seen["progress"]
    media_client.delete(f"/api/videos/{video['id']}")


def test_deleting_a_running_video_cancels_it(media_client: httpx.Client, video_worker: WorkerProcess) -> None:
    video = create(media_client, "[slow] a long one")
    assert wait_until(
        lambda: media_client.get(f"/api/videos/{video['id']}").json()["status"] == "in_progress", timeout=15
    )
    deleted = media_client.delete(f"/api/videos/{video['id']}")
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert_envelope(media_client.get(f"/api/videos/{video['id']}"), 404, "video_not_found")
    assert_envelope(media_client.get(f"/api/videos/{video['id']}/content"), 404, "video_not_found")
    assert media_client.get("/api/videos").json()["data"] == []
    # The worker stopped it through the jobs' cancel path: the job ends canceled, within a second or so.
    assert wait_until(lambda: media_client.get(f"/api/jobs/{video['id']}").json()["status"] == "canceled", timeout=5)


def test_deleting_a_finished_video_removes_record_and_artifact(
    media_client: httpx.Client, media_settings: Settings, video_worker: WorkerProcess
) -> None:
    kept, gone = create(media_client, "kept"), create(media_client, "gone")
    settled(media_client, kept["id"])
    settled(media_client, gone["id"])
    assert artifact_dirs(media_settings, gone["id"])
    assert media_client.delete(f"/api/videos/{gone['id']}").json()["deleted"] is True
    assert artifact_dirs(media_settings, gone["id"]) == []
    assert_envelope(media_client.get(f"/api/videos/{gone['id']}"), 404, "video_not_found")
    assert_envelope(media_client.get(f"/api/videos/{gone['id']}/content"), 404, "video_not_found")
    assert_envelope(media_client.get(f"/api/jobs/{gone['id']}"), 404, "job_not_found")
    assert [v["id"] for v in media_client.get("/api/videos").json()["data"]] == [kept["id"]]
    assert media_client.get(f"/api/videos/{kept['id']}/content").content == CLIP


def test_a_failed_video_says_why(media_client: httpx.Client, video_worker: WorkerProcess) -> None:
    video = create(media_client, "[fail] refused")
    done = settled(media_client, video["id"])
    assert done["status"] == "failed" and done["completed_at"] is not None
    assert done["error"] == {"code": "upstream_bad_request", "message": "The provider refused the prompt."}
    assert_envelope(media_client.get(f"/api/videos/{video['id']}/content"), 409, "video_not_ready")
    assert media_client.delete(f"/api/videos/{video['id']}").json()["deleted"] is True
    assert_envelope(media_client.get(f"/api/videos/{video['id']}"), 404, "video_not_found")


def test_a_video_canceled_through_the_jobs_api_reads_failed_canceled(
    media_client: httpx.Client, video_worker: WorkerProcess
) -> None:
    video = create(media_client, "[slow] then canceled")
    assert media_client.post(f"/api/jobs/{video['id']}/cancel").status_code == 200
    assert wait_until(lambda: media_client.get(f"/api/videos/{video['id']}").json()["status"] == "failed", timeout=5)
    after = media_client.get(f"/api/videos/{video['id']}").json()
    assert after["error"]["code"] == "canceled"
    assert [v["id"] for v in media_client.get("/api/videos").json()["data"]] == [video["id"]]
