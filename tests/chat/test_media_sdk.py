"""Platforms' view of the media endpoints: the real `openai` SDK against the whole stack
(gateway → Redis → interactive and media workers → LiteLLM → emulator), with only base_url
and api_key set, and a real artifact directory shared by the gateway and the workers."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import httpx
import openai
import pytest

from tests.support.auth import AUTH, TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

SPOKEN = "The quick brown fox jumps over the lazy dog."


def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/api", api_key=TEST_API_KEY, max_retries=0, timeout=60)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embeddings_float_and_base64(media_stack: Stack) -> None:
    sdk = client(media_stack)
    raw = sdk.embeddings.with_raw_response.create(
        model="auto",
        input=["a cat sat on the mat", "a cat sat on a mat", "stock market report"],
        encoding_format="float",
    )
    floats = raw.parse()
    assert raw.headers["x-mpc-task"] == "embed_text" and raw.headers["x-mpc-job-id"].startswith("job_")
    assert floats.model == raw.headers["x-mpc-model"]
    assert [d.index for d in floats.data] == [0, 1, 2]
    vectors = [d.embedding for d in floats.data]
    assert all(abs(norm(v) - 1) < 1e-3 for v in vectors)
    close = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    far = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert close > far  # similar texts are close
    encoded = sdk.embeddings.create(
        model=floats.model, input=["a cat sat on the mat"], encoding_format="base64", dimensions=64
    )
    packed = base64.b64decode(encoded.data[0].embedding)  # type: ignore[arg-type]
    decoded = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert len(decoded) == 64 and abs(norm(list(decoded)) - 1) < 1e-3
    # The SDK's own default (it asks for base64 and decodes it) gives the same floats.
    default = sdk.embeddings.create(model=floats.model, input="a cat sat on the mat", dimensions=64)
    assert default.data[0].embedding == pytest.approx(list(decoded), abs=1e-6)
    assert floats.usage.total_tokens > 0


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_images_b64_json_and_url(media_stack: Stack) -> None:
    sdk = client(media_stack)
    inline = sdk.images.generate(model="auto", prompt="a red square", size="1024x1024", response_format="b64_json")
    assert inline.data and png_size(base64.b64decode(inline.data[0].b64_json or "")) == (1024, 1024)
    # Pinned: OpenAI's images endpoint honours `n` (through LiteLLM, not every provider's does).
    linked = sdk.images.generate(
        model="openai/gpt-image-2", prompt="a blue square", size="1024x1024", n=2, response_format="url"
    )
    assert linked.data is not None and len(linked.data) == 2
    for image in linked.data:
        assert image.url and image.url.startswith(media_stack.base_url)
        fetched = httpx.get(image.url)  # a signed link: no API key
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
        assert png_size(fetched.content) == (1024, 1024)


def speak(stack: Stack, text: str, response_format: str = "wav") -> tuple[bytes, httpx.Headers, int]:
    """The speech's bytes, its headers, and how many pieces the body arrived in."""
    pieces = 0
    collected = bytearray()
    with client(stack).audio.speech.with_streaming_response.create(
        model="auto",
        voice="alloy",
        input=text,
        response_format=response_format,  # type: ignore[arg-type]
    ) as response:
        for chunk in response.iter_bytes():
            pieces += 1
            collected += chunk
        headers = response.headers
    return bytes(collected), headers, pieces


@pytest.mark.parametrize(("response_format", "magic"), [("wav", b"RIFF"), ("mp3", None), ("flac", b"fLaC")])
def test_speech_streams_real_audio(media_stack: Stack, response_format: str, magic: bytes | None) -> None:
    audio, headers, _ = speak(media_stack, SPOKEN, response_format)
    assert headers["x-mpc-task"] == "tts" and headers["x-mpc-job-id"].startswith("job_") and headers["x-mpc-model"]
    assert headers["content-type"] == {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}[response_format]
    if magic is not None:
        assert audio.startswith(magic)
    else:
        assert audio.startswith(b"ID3") or audio[0] == 0xFF
    longer, _, _ = speak(media_stack, " ".join([SPOKEN] * 4), response_format)
    assert len(longer) > len(audio)  # the audio grows with the text


@pytest.mark.parametrize("response_format", ["json", "text", "verbose_json", "srt", "vtt"])
def test_transcriptions_round_trip_every_format(media_stack: Stack, response_format: str) -> None:
    audio, _, _ = speak(media_stack, SPOKEN, "wav")
    create: Any = client(media_stack).audio.transcriptions.create  # its return type varies with the format
    answer = create(model="auto", file=("speech.wav", audio), response_format=response_format, language="en")
    words = "quick brown fox"
    if response_format == "json":
        assert words in answer.text.lower()
    elif response_format == "verbose_json":
        assert words in answer.text.lower()
        assert answer.duration and answer.duration > 0
        assert answer.segments
    else:
        assert isinstance(answer, str) and words in answer.lower()
        if response_format == "srt":
            assert "-->" in answer and "," in answer.split("-->")[0]
        if response_format == "vtt":
            assert answer.startswith("WEBVTT")


def test_uploaded_file_transcribed_as_a_job(media_stack: Stack) -> None:
    audio, _, _ = speak(media_stack, SPOKEN, "wav")
    uploaded = client(media_stack).files.create(file=("speech.wav", audio), purpose="user_data")
    with httpx.Client(base_url=media_stack.base_url, headers=AUTH, timeout=60) as http:
        job = http.post(
            "/api/jobs",
            json={"task": "transcribe", "input": {"file_id": uploaded.id}},
            headers={"Prefer": "wait=50"},
        ).json()
    assert job["status"] == "succeeded", job
    assert "quick brown fox" in job["output"]["text"].lower()


def test_speech_job_lists_its_artifact_with_a_working_link(media_stack: Stack) -> None:
    with httpx.Client(base_url=media_stack.base_url, headers=AUTH, timeout=60) as http:
        job = http.post(
            "/api/jobs",
            json={"task": "tts", "input": {"text": SPOKEN, "format": "mp3"}},
            headers={"Prefer": "wait=50"},
        ).json()
        assert job["status"] == "succeeded", job
        [artifact] = job["output"]["artifacts"]
        assert artifact["content_type"] == "audio/mpeg" and artifact["metadata"]["duration_s"] > 0
        with_key = http.get(f"/api/jobs/{job['id']}/artifacts/{artifact['name']}")
    assert with_key.status_code == 200 and len(with_key.content) == artifact["bytes"]
    assert httpx.get(artifact["url"]).content == with_key.content


def test_provider_refusal_is_a_400_without_fallback(media_stack: Stack) -> None:
    chain = media_stack.chain(task="tts")
    media_stack.emulator.set_model(media_stack.upstream_name(chain[0]), status=400)
    with pytest.raises(openai.BadRequestError):
        client(media_stack).audio.speech.create(model=chain[0], voice="alloy", input="hello")
    assert not media_stack.emulator.requests(model=media_stack.upstream_name(chain[1]))


def test_speech_after_a_fallback_names_the_model_that_spoke(media_stack: Stack) -> None:
    chain = media_stack.chain(task="tts")
    media_stack.emulator.set_model(media_stack.upstream_name(chain[0]), status=503)
    audio, headers, _ = speak(media_stack, SPOKEN, "mp3")
    assert audio and headers["x-mpc-model"] != chain[0]
    assert headers["x-mpc-model"] in chain[1:]


def test_a_width_no_model_of_the_chain_gives_is_a_400_naming_dimensions(media_stack: Stack) -> None:
    """bge-base answers 768 wide whatever `dimensions` says: the worker skips it (no breaker
    record) and, with no other model allowed, the client hears which field cannot be met."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(media_stack).embeddings.create(
            model="auto",
            input="a cat",
            dimensions=1024,
            extra_body={"providers": {"allow": ["together"]}, "tier": "draft"},
        )
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "dimensions", error
    assert "768" in error["message"]
