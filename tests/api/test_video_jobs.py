"""`POST /api/jobs` with `video_generate`: the input checked before anything is enqueued, the
chosen model's limits (seconds, size, aspect ratio) as 422s naming the field, the brain's
`inputs` rule at the gateway (a model that needs an image only with one), and an image upload
that must belong to the caller and be an image. Nothing reaches a worker here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis

from queues import keys
from queues.settings import Settings
from tests.support.auth import OTHER_AUTH
from tests.support.envelopes import assert_envelope

SAMPLES = Path(__file__).resolve().parents[1] / "artifacts" / "samples"
VEO = "gemini/veo-3.1-fast-generate-001"
GEN4_TURBO = "runwayml/gen4_turbo"
AVATAR = "heygen/avatar-iii"


def submit(client: httpx.Client, job_input: Any, **params: Any) -> httpx.Response:
    return client.post("/api/jobs", json={"task": "video_generate", "input": job_input, "params": params})


def chain_of(settings: Settings, job_id: str) -> list[str]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.hget(keys.job(job_id), "params")
    finally:
        client.close()
    assert isinstance(raw, bytes)
    return [link["id"] for link in msgspec.json.decode(raw)["chain"]]


def job_count(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return len(client.keys(keys.job("*")))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("job_input", "params", "param"),
    [
        ({}, {}, "input.prompt"),
        ({"prompt": " "}, {}, "input.prompt"),
        ({"prompt": "a cat", "seconds": 0}, {}, "input.seconds"),
        ({"prompt": "a cat", "seconds": "8"}, {}, "input.seconds"),
        ({"prompt": "a cat", "size": "big"}, {}, "input.size"),
        ({"prompt": "a cat", "size": "1280x720", "aspect_ratio": "16:9"}, {}, "input.aspect_ratio"),
        ({"prompt": "a cat", "aspect_ratio": "4:3"}, {}, "input.aspect_ratio"),
        ({"prompt": "a cat", "image": {}}, {}, "input.image"),
        ({"prompt": "a cat", "image": {"url": "http://example.com/a.png"}}, {}, "input.image.url"),
        ({"prompt": "a cat", "image": {"file_id": "nope"}}, {}, "input.image.file_id"),
        ({"prompt": "hi", "avatar_id": "Daisy-inskirt-20220818"}, {}, "input.voice_id"),
        ({"prompt": "a cat", "style": "noir"}, {}, "input.style"),
        # The chosen model's limits: Veo makes 4, 6 or 8 s at 720p/1080p, 16:9 or 9:16.
        ({"prompt": "a cat", "seconds": 7}, {"model": VEO}, "input.seconds"),
        ({"prompt": "a cat", "size": "1024x1024"}, {"model": VEO}, "input.size"),
        ({"prompt": "a cat", "aspect_ratio": "1:1"}, {"model": VEO}, "input.aspect_ratio"),
        ({"prompt": "script", "avatar_id": "a1", "voice_id": "v1", "seconds": 8}, {"model": AVATAR}, "input.seconds"),
    ],
)
def test_bad_video_input_is_a_422_naming_the_field(
    client: httpx.Client, settings: Settings, job_input: Any, params: dict[str, Any], param: str
) -> None:
    error = assert_envelope(submit(client, job_input, **params), 422)
    assert error["param"] == param, error
    assert job_count(settings) == 0


def test_within_the_models_limits_is_accepted(client: httpx.Client, settings: Settings) -> None:
    response = submit(client, {"prompt": "a cat", "seconds": 6, "aspect_ratio": "9:16"}, model=VEO)
    assert response.status_code == 202, response.text
    chain = chain_of(settings, response.json()["id"])
    assert chain[0] == VEO
    assert GEN4_TURBO not in chain  # it needs an image


def test_fallbacks_that_cannot_make_the_video_are_dropped(client: httpx.Client, settings: Settings) -> None:
    response = submit(client, {"prompt": "a cat", "seconds": 8}, model=VEO, fallbacks=8)
    assert response.status_code == 202, response.text
    chain = chain_of(settings, response.json()["id"])
    assert chain[0] == VEO and len(chain) > 1
    # Every fallback makes 8 s videos (Veo and Runway's Veo); none that makes only 5 or 10 s.
    assert not {"fal/minimax/h3/text-to-video", "pika/fal-ai/pika/v2.2/text-to-video"} & set(chain)


def test_a_model_that_needs_an_image_is_not_used_without_one(client: httpx.Client, settings: Settings) -> None:
    response = submit(client, {"prompt": "a cat"}, model=GEN4_TURBO, tier="draft", fallbacks=8)
    assert response.status_code == 202, response.text
    assert GEN4_TURBO not in chain_of(settings, response.json()["id"])


def test_with_an_image_it_is(client: httpx.Client, settings: Settings) -> None:
    image = {"url": "https://example.com/first-frame.png"}
    response = submit(client, {"prompt": "the cat walks away", "image": image, "seconds": 5}, tier="draft")
    assert response.status_code == 202, response.text
    chain = chain_of(settings, response.json()["id"])
    assert chain[0] == GEN4_TURBO
    # Only models that animate an image: the text-to-video ones would drop it.
    assert all("image-to-video" in model or model.startswith("runwayml/") for model in chain), chain


def test_an_avatar_video_goes_to_an_avatar_model(client: httpx.Client, settings: Settings) -> None:
    response = submit(client, {"prompt": "Hello there.", "avatar_id": "a1", "voice_id": "v1"})
    assert response.status_code == 202, response.text
    assert all(model.startswith("heygen/") for model in chain_of(settings, response.json()["id"]))


def test_the_image_upload_must_be_the_callers_and_an_image(
    media_client: httpx.Client, media_settings: Settings
) -> None:
    image = media_client.post(
        "/api/files", data={"purpose": "user_data"}, files={"file": ("f.png", (SAMPLES / "image.png").read_bytes())}
    )
    assert image.status_code == 200, image.text
    accepted = submit(media_client, {"prompt": "a cat", "image": {"file_id": image.json()["id"]}})
    assert accepted.status_code == 202, accepted.text

    audio = media_client.post(
        "/api/files",
        data={"purpose": "user_data"},
        files={"file": ("t.mp3", (SAMPLES / "tone-frames.mp3").read_bytes())},
    )
    assert audio.status_code == 200, audio.text
    not_image = submit(media_client, {"prompt": "a cat", "image": {"file_id": audio.json()["id"]}})
    assert assert_envelope(not_image, 422)["param"] == "input.image.file_id"

    someone_elses = media_client.post(
        "/api/jobs",
        json={"task": "video_generate", "input": {"prompt": "a cat", "image": {"file_id": image.json()["id"]}}},
        headers=OTHER_AUTH,
    )
    assert assert_envelope(someone_elses, 404)["param"] == "input.image.file_id"
    unknown = submit(media_client, {"prompt": "a cat", "image": {"file_id": "file_doesnotexist000"}})
    assert assert_envelope(unknown, 404)["param"] == "input.image.file_id"
