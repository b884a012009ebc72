"""The Videos API at the gateway, with no worker: create (as the SDK's multipart form and as
JSON), the video object, refusals that name the field and write nothing, owners, and the
paginated list, against the real Redis and a real artifact directory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from queues import keys
from queues.settings import Settings
from tests.support.artifacts import sample
from tests.support.auth import OTHER_AUTH
from tests.support.envelopes import assert_envelope

PNG = sample("image.png")
WAV = sample("tone.wav")[:2048]  # a whole WAV header and some samples: under the upload cap


@pytest.fixture
def db(media_settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(media_settings.redis_url)
    yield client
    client.close()


def create(client: httpx.Client, **fields: str) -> dict[str, Any]:
    """A video made as the openai SDK makes one: a multipart form even without a file (the
    empty `_` part makes httpx send the fields as multipart)."""
    response = client.post("/api/videos", data=fields, files=[("_", (None, b""))])
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


def job_keys(db: redis.Redis) -> list[bytes]:
    return sorted(db.scan_iter(match=f"{keys.JOB}*"))


def index_of(db: redis.Redis) -> list[bytes]:
    members: list[bytes] = []
    for key in db.scan_iter(match=f"{keys.OWNER_VIDEOS}*"):
        members.extend(cast(list[bytes], db.zrange(key, 0, -1)))
    return members


def uploads(media_settings: Settings) -> list[Path]:
    root = Path(media_settings.artifacts_url.removeprefix("file://"))
    return sorted(root.rglob("record.json")) if root.exists() else []


def test_create_from_a_form_is_a_queued_video_job(media_client: httpx.Client) -> None:
    response = media_client.post(
        "/api/videos",
        data={"prompt": "a lighthouse at dusk", "seconds": "4", "size": "1280x720", "tier": "strong"},
        files=[("_", (None, b""))],
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert set(video) == {
        "id",
        "object",
        "model",
        "status",
        "progress",
        "created_at",
        "completed_at",
        "expires_at",
        "seconds",
        "size",
        "error",
    }
    assert video["id"].startswith("job_") and video["object"] == "video"
    assert (video["status"], video["progress"], video["error"]) == ("queued", 0, None)
    assert (video["seconds"], video["size"]) == ("4", "1280x720")
    assert abs(video["created_at"] - time.time()) < 5 and video["completed_at"] is None
    assert video["model"] == response.headers["x-mpc-model"] == "gemini/veo-3.1-fast-generate-001"
    assert response.headers["x-mpc-task"] == "video_generate"
    assert response.headers["x-mpc-job-id"] == video["id"]
    job = media_client.get(f"/api/jobs/{video['id']}").json()
    assert (job["task"], job["queue"], job["status"]) == ("video_generate", "media", "queued")
    assert media_client.get(f"/api/videos/{video['id']}").json() == video


def test_create_from_json_with_extension_fields(media_client: httpx.Client) -> None:
    response = media_client.post(
        "/api/videos",
        json={"prompt": "waves", "seconds": "5", "tier": "draft", "providers": {"allow": ["pika"]}},
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert video["model"] == "pika/fal-ai/pika/v2/turbo/text-to-video"
    assert video["seconds"] == "5" and video["size"] is None


def test_form_steering_in_the_sdks_bracket_notation(media_client: httpx.Client) -> None:
    """`extra_body={"providers": {"deny": [...]}}` reaches the form as `providers[deny][]` fields."""
    fields = [
        ("prompt", "waves"),
        ("providers[deny][]", "gemini"),
        ("providers[deny][]", "runwayml"),
        ("tier", "strong"),
    ]
    fields += [("providers[deny][]", "fal"), ("providers[deny][]", "heygen")]
    response = media_client.post("/api/videos", files=[(name, (None, value.encode())) for name, value in fields])
    assert response.status_code == 200, response.text
    assert response.json()["model"].startswith("pika/")


def job_input(db: redis.Redis, job_id: str) -> Any:
    """What the worker will read as the job's input (fields left unset are not compared)."""
    return given(json.loads(cast(bytes, db.hget(keys.job(job_id), "input"))))


def given(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: given(v) for k, v in value.items() if v is not None}
    return value


def test_input_reference_file_becomes_an_uploaded_image(
    media_client: httpx.Client, media_settings: Settings, db: redis.Redis
) -> None:
    response = media_client.post(
        "/api/videos",
        data={"prompt": "the picture, moving"},
        files={"input_reference": ("still.png", PNG, "image/png")},
    )
    assert response.status_code == 200, response.text
    video = response.json()
    job = media_client.get(f"/api/jobs/{video['id']}").json()
    assert job["status"] == "queued"
    [record] = uploads(media_settings)
    file_id = record.parent.parent.name
    uploaded = media_client.get(f"/api/files/{file_id}").json()
    assert (uploaded["filename"], uploaded["bytes"], uploaded["purpose"]) == ("still.png", len(PNG), "vision")
    assert media_client.get(f"/api/files/{file_id}/content").content == PNG
    assert job_input(db, video["id"]) == {"prompt": "the picture, moving", "image": {"file_id": file_id}}


def test_input_reference_by_file_id_and_url(media_client: httpx.Client, db: redis.Redis) -> None:
    file_id = media_client.post(
        "/api/files", data={"purpose": "vision"}, files={"file": ("a.png", PNG, "image/png")}
    ).json()["id"]
    by_id = media_client.post(
        "/api/videos", files=[("prompt", (None, b"x")), ("input_reference[file_id]", (None, file_id.encode()))]
    )
    assert by_id.status_code == 200, by_id.text
    by_url = media_client.post(
        "/api/videos", json={"prompt": "x", "input_reference": {"image_url": "https://example.com/a.png"}}
    )
    assert by_url.status_code == 200, by_url.text
    assert job_input(db, by_id.json()["id"]) == {"prompt": "x", "image": {"file_id": file_id}}
    assert job_input(db, by_url.json()["id"]) == {"prompt": "x", "image": {"url": "https://example.com/a.png"}}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "param"),
    [
        ({"data": {"prompt": "x", "seconds": "four"}, "files": [("_", (None, b""))]}, 400, "seconds"),
        ({"json": {"prompt": "x", "seconds": "4.5"}}, 400, "seconds"),
        ({"data": {"prompt": "x", "fallbacks": "many"}, "files": [("_", (None, b""))]}, 400, "fallbacks"),
        ({"data": {"prompt": "x", "tier": "premium"}, "files": [("_", (None, b""))]}, 422, "tier"),
        ({"data": {"prompt": "x", "task": "tts"}, "files": [("_", (None, b""))]}, 400, "task"),
        ({"data": {"prompt": "x", "model": "no-such-model"}, "files": [("_", (None, b""))]}, 404, "model"),
        ({"data": {"prompt": "x", "model": "openai/gpt-4o-mini-tts"}, "files": [("_", (None, b""))]}, 400, "model"),
        ({"data": {"prompt": "x", "providers": "{not json"}, "files": [("_", (None, b""))]}, 400, "providers"),
        ({"json": {"prompt": "x", "input_reference": "https://example.com/a.png"}}, 400, "input_reference"),
        (
            {"json": {"prompt": "x", "input_reference": {"image_url": "http://example.com/a.png"}}},
            400,
            "input_reference.image_url",
        ),
        (
            {"json": {"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,AAAA"}}},
            400,
            "input_reference.image_url",
        ),
        (
            {"json": {"prompt": "x", "input_reference": {"file_id": "file_doesnotexist000"}}},
            404,
            "input_reference.file_id",
        ),
        ({"json": {"prompt": "x", "input_reference": {"file_id": "a", "image_url": "b"}}}, 400, "input_reference"),
        ({"data": {"prompt": "x"}, "files": {"input_reference": ("a.wav", WAV, "audio/wav")}}, 415, "input_reference"),
        (
            {
                "data": {"prompt": "x", "input_reference[image_url]": "https://a/b.png"},
                "files": {"input_reference": ("a.png", PNG, "image/png")},
            },
            400,
            "input_reference",
        ),
        (
            {"data": {"prompt": "x"}, "files": {"input_reference": ("big.png", PNG + b"\0" * 8192, "image/png")}},
            413,
            "input_reference",
        ),
        (
            {
                "data": {"prompt": "x", "providers[deny][]": "gemini", "providers[allow][]": "gemini"},
                "files": [("_", (None, b""))],
            },
            422,
            None,
        ),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(
    media_client: httpx.Client,
    media_settings: Settings,
    db: redis.Redis,
    request_kwargs: dict[str, Any],
    status: int,
    param: str | None,
) -> None:
    error = assert_envelope(media_client.post("/api/videos", **request_kwargs), status)
    if param is not None:
        assert error["param"] == param, error
    assert job_keys(db) == [] and index_of(db) == []
    assert uploads(media_settings) == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"seconds": "4"}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "size": "wide"}, "size"),
        ({"prompt": "x", "size": "1280x720", "aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"prompt": "x", "aspect_ratio": "2:1"}, "aspect_ratio"),
        ({"prompt": "x", "model": "gemini/veo-3.1-fast-generate-001", "seconds": "30"}, "seconds"),
        ({"prompt": "x", "avatar_id": "anna"}, "voice_id"),
    ],
)
def test_the_video_input_is_checked_against_the_model_naming_the_body_field(
    media_client: httpx.Client, db: redis.Redis, body: dict[str, str], param: str
) -> None:
    """The job input's checks (catalog.inputs) and the chosen model's limits, as the SDK's form sends them."""
    response = media_client.post("/api/videos", data=body, files=[("_", (None, b""))])
    error = assert_envelope(response, 422)
    assert error["param"] == param, error
    assert f"'{param}'" in error["message"] or param in error["message"]
    assert job_keys(db) == [] and index_of(db) == []


def test_another_keys_video_is_a_404(media_gateway: str, media_client: httpx.Client) -> None:
    video = create(media_client, prompt="mine")
    mine = media_client.post("/api/files", data={"purpose": "vision"}, files={"file": ("a.png", PNG, "image/png")})
    with httpx.Client(base_url=media_gateway, headers=OTHER_AUTH) as other:
        for response in (
            other.get(f"/api/videos/{video['id']}"),
            other.get(f"/api/videos/{video['id']}/content"),
            other.delete(f"/api/videos/{video['id']}"),
        ):
            assert assert_envelope(response, 404, "video_not_found")["param"] == "video_id"
        assert other.get("/api/videos").json()["data"] == []
        # Nor may another key's upload be its reference image.
        with_file = other.post("/api/videos", json={"prompt": "x", "input_reference": {"file_id": mine.json()["id"]}})
        assert assert_envelope(with_file, 404, "file_not_found")["param"] == "input_reference.file_id"
    with httpx.Client(base_url=media_gateway) as anonymous:
        assert_envelope(anonymous.get(f"/api/videos/{video['id']}"), 401)
    assert media_client.get(f"/api/videos/{video['id']}").json()["status"] == "queued"


def test_unknown_ids_and_other_tasks_are_404s(media_client: httpx.Client) -> None:
    for video_id in ("job_" + "0" * 24, "nope", "job_" + "x" * 80):
        assert_envelope(media_client.get(f"/api/videos/{video_id}"), 404, "video_not_found")
    # A job of another task is no video, even the caller's own.
    job = media_client.post(
        "/api/jobs", json={"task": "chat_general", "input": {"messages": [{"role": "user", "content": "hi"}]}}
    )
    assert_envelope(media_client.get(f"/api/videos/{job.json()['id']}"), 404, "video_not_found")


def test_content_waits_for_completion_and_variants(media_client: httpx.Client) -> None:
    video = create(media_client, prompt="not yet")
    assert_envelope(media_client.get(f"/api/videos/{video['id']}/content"), 409, "video_not_ready")
    bad = assert_envelope(media_client.get(f"/api/videos/{video['id']}/content", params={"variant": "gif"}), 400)
    assert bad["param"] == "variant"
    none = media_client.get(f"/api/videos/{video['id']}/content", params={"variant": "thumbnail"})
    assert assert_envelope(none, 404, "variant_not_available")["param"] == "variant"


def test_list_pages_newest_first_and_oldest_first(media_client: httpx.Client) -> None:
    made = [create(media_client, prompt=f"video {n}")["id"] for n in range(5)]
    first = media_client.get("/api/videos", params={"limit": 2}).json()
    assert first["object"] == "list"
    assert [v["id"] for v in first["data"]] == made[::-1][:2]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (made[4], made[3], True)
    second = media_client.get("/api/videos", params={"limit": 2, "after": first["last_id"]}).json()
    assert [v["id"] for v in second["data"]] == [made[2], made[1]] and second["has_more"]
    last = media_client.get("/api/videos", params={"limit": 2, "after": second["last_id"]}).json()
    assert [v["id"] for v in last["data"]] == [made[0]] and not last["has_more"]
    ascending = media_client.get("/api/videos", params={"order": "asc", "limit": 3}).json()
    assert [v["id"] for v in ascending["data"]] == made[:3] and ascending["has_more"]
    everything = media_client.get("/api/videos").json()
    assert [v["id"] for v in everything["data"]] == made[::-1] and not everything["has_more"]
    assert all(v["object"] == "video" and v["status"] == "queued" for v in everything["data"])


def test_empty_list_and_bad_list_parameters(media_client: httpx.Client) -> None:
    empty = media_client.get("/api/videos").json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    for params, param in (
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
    ):
        assert assert_envelope(media_client.get("/api/videos", params=params), 400)["param"] == param
    missing = media_client.get("/api/videos", params={"after": "job_" + "0" * 24})
    assert assert_envelope(missing, 404, "video_not_found")["param"] == "after"


def test_a_video_made_through_the_jobs_api_is_listed(media_client: httpx.Client) -> None:
    job = media_client.post("/api/jobs", json={"task": "video_generate", "input": {"prompt": "through jobs"}}).json()
    listed = media_client.get("/api/videos").json()["data"]
    assert [v["id"] for v in listed] == [job["id"]]
    assert media_client.get(f"/api/videos/{job['id']}").json()["status"] == "queued"


def test_deleting_a_queued_video_cancels_its_job(media_client: httpx.Client, db: redis.Redis) -> None:
    keep, gone = create(media_client, prompt="keep"), create(media_client, prompt="gone")
    deleted = media_client.delete(f"/api/videos/{gone['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": gone["id"], "object": "video.deleted", "deleted": True}
    assert_envelope(media_client.get(f"/api/videos/{gone['id']}"), 404, "video_not_found")
    assert_envelope(media_client.delete(f"/api/videos/{gone['id']}"), 404, "video_not_found")
    assert [v["id"] for v in media_client.get("/api/videos").json()["data"]] == [keep["id"]]
    # The job itself was canceled through the jobs' cancel path: off its queue, never to start.
    assert media_client.get(f"/api/jobs/{gone['id']}").json()["status"] == "canceled"
    assert db.zscore(keys.QUEUE_NAMES["media"], gone["id"]) is None


def test_an_expired_video_is_gone_and_leaves_the_list(media_client: httpx.Client, db: redis.Redis) -> None:
    old, current = create(media_client, prompt="old"), create(media_client, prompt="current")
    db.hset(keys.job(old["id"]), "expires_at", repr(time.time() - 1))  # its result TTL has passed
    assert [v["id"] for v in media_client.get("/api/videos").json()["data"]] == [current["id"]]
    assert_envelope(media_client.get(f"/api/videos/{old['id']}"), 404, "video_not_found")
    assert [m.decode() for m in index_of(db)] == [current["id"]]


def test_a_webhook_rides_along_as_on_the_jobs_api(media_client: httpx.Client, db: redis.Redis) -> None:
    """`extra_body={"webhook": {...}}` reaches the SDK's form as `webhook[url]`, `webhook[events][]`."""
    fields = [("prompt", "x"), ("webhook[url]", "https://example.com/hooks"), ("webhook[events][]", "job.succeeded")]
    response = media_client.post("/api/videos", files=[(name, (None, value.encode())) for name, value in fields])
    assert response.status_code == 200, response.text
    job = media_client.get(f"/api/jobs/{response.json()['id']}").json()
    assert job["webhook"]["url"] == "https://example.com/hooks" and job["webhook"]["events"] == ["job.succeeded"]
    for bad, param in (
        ({"url": "http://127.0.0.1/hooks"}, "webhook.url"),
        ({"url": "https://example.com/hooks", "events": ["job.exploded"]}, "webhook.events[0]"),
    ):
        refused = media_client.post("/api/videos", json={"prompt": "x", "webhook": bad})
        assert assert_envelope(refused, 422)["param"] == param
    assert len(index_of(db)) == 1
