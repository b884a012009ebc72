"""image_generate end to end: gateway job → media worker → LiteLLM /v1/images/generations →
emulator; decodable images of the asked size and format in the store."""

from __future__ import annotations

import pytest

from tests.support.media_stack import MediaStack, probe

OPENAI_IMAGE = "openai/gpt-image-2"
FAL_IMAGE = "fal/fal-ai/flux/schnell"


@pytest.mark.parametrize(("fmt", "codec"), [("png", "png"), ("jpeg", "mjpeg"), ("webp", "webp")])
def test_images_of_the_asked_size_and_format(media: MediaStack, fmt: str, codec: str) -> None:
    job = media.run(
        "image_generate",
        {"prompt": "a red square", "n": 2, "size": "320x256", "output_format": fmt},
        model=OPENAI_IMAGE,
    )

    assert job["status"] == "succeeded", job["error"]
    out = job["output"]
    assert out["model"] == OPENAI_IMAGE and isinstance(out["created"], int)
    assert [a["name"] for a in out["artifacts"]] == [f"image-1.{fmt}", f"image-2.{fmt}"]
    assert len(out["revised_prompts"]) == 2
    for artifact in out["artifacts"]:
        assert artifact["content_type"] == f"image/{fmt}"
        stream = probe(media.read_artifact(job["id"], artifact["name"]))["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == (codec, 320, 256)
        assert artifact["metadata"] == {"width": 320, "height": 256}


def test_a_provider_that_answers_urls_is_downloaded(media: MediaStack) -> None:
    job = media.run("image_generate", {"prompt": "a blue circle", "size": "512x512"}, model=FAL_IMAGE)

    assert job["status"] == "succeeded", job["error"]
    [artifact] = job["output"]["artifacts"]
    stream = probe(media.read_artifact(job["id"], artifact["name"]))["streams"][0]
    assert stream["codec_name"] == "png"
    assert artifact["metadata"] == {"width": stream["width"], "height": stream["height"]}


def test_n_images_from_a_model_that_makes_one_per_call(media: MediaStack) -> None:
    model = "gemini/gemini-3.1-flash-image"  # generateContent: one image per call
    job = media.run("image_generate", {"prompt": "two green triangles", "n": 3}, model=model)

    assert job["status"] == "succeeded", job["error"]
    assert [a["name"] for a in job["output"]["artifacts"]] == ["image-1.png", "image-2.png", "image-3.png"]
    assert len(media.stack.emulator.requests(model=media.upstream_name(model))) == 3


def test_a_failing_image_model_falls_back(media: MediaStack) -> None:
    chain = media.chain("image_generate")
    media.stack.emulator.set_model(media.upstream_name(chain[0]), status=503)

    job = media.run("image_generate", {"prompt": "a green triangle"})

    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] != chain[0]


def test_a_provider_400_fails_at_once(media: MediaStack) -> None:
    media.stack.emulator.set_model(media.upstream_name(OPENAI_IMAGE), status=400)

    job = media.run("image_generate", {"prompt": "anything", "size": "256x256"}, model=OPENAI_IMAGE)

    assert job["status"] == "failed", job
    assert (job["error"]["status"], job["error"]["code"]) == (400, "upstream_rejected")
    assert media.files_of(job["id"]) == []
