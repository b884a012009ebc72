"""Every enabled catalog media model, called through the real LiteLLM proxy with the real
`openai` SDK, against the emulator: the media that comes back is real (ffprobe decodes it at
the asked size, audio lasts longer for longer text, TTS -> STT gives the words back,
embeddings are unit vectors of the model's width where similar texts are close).

The models no emulator can serve are `UNREACHABLE_MEDIA`, which must match docs/providers.md.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from catalog import Catalog, load_catalog
from catalog.schema import Model
from sandbox.emulator import media
from sandbox.emulator.client import EmulatorClient
from sandbox.emulator.litellm_config import UNREACHABLE_MEDIA
from tests.support.litellm import LiteLLMProxy
from tests.support.media_probe import cosine, norm, probe

MEDIA_TASKS = ("embed_text", "image_generate", "tts", "transcribe")
PROVIDERS_DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
# The providers' real widths (what a client gets without `dimensions`).
EMBEDDING_WIDTHS = {
    "openai/text-embedding-3-large": 3072,
    "openai/text-embedding-3-small": 1536,
    "gemini/gemini-embedding-2": 3072,
    "gemini/gemini-embedding-001": 3072,
    "cometapi/text-embedding-3-small": 1536,
    "together/BAAI/bge-base-en-v1.5": 768,
}
TAKES_DIMENSIONS = ("openai", "gemini")
# What each provider makes of `size: 1024x1024` (flux-pro ultra only takes an aspect ratio).
IMAGE_SIZE_OVERRIDES = {"fal/fal-ai/flux-pro/v1.1-ultra": (2048, 2048)}
# A voice each provider accepts (LiteLLM maps OpenAI names only for ElevenLabs).
VOICES = {"openai": "alloy", "groq": "troy", "gemini": "Kore", "elevenlabs": "alloy"}
SHORT_TEXT = "Hello there."
LONG_TEXT = "Hello there. This is a much longer sentence, so the speech made from it lasts a good while longer."


def media_models() -> list[tuple[str, str]]:
    catalog = load_catalog()
    return [
        (model.id, task)
        for model in catalog.data.models  # disabled ones too: a client may still pin them
        for task in model.tasks
        if task in MEDIA_TASKS
    ]


REACHABLE = [(model_id, task) for model_id, task in media_models() if model_id not in UNREACHABLE_MEDIA]


def _ids(task: str) -> list[str]:
    return [model_id for model_id, t in REACHABLE if t == task]


@pytest.fixture(scope="session")
async def client(litellm: LiteLLMProxy) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{litellm.base_url}/v1", api_key=litellm.master_key, max_retries=0, timeout=120
    ) as sdk:
        yield sdk


def _model(catalog: Catalog, model_id: str) -> Model:
    return catalog.models[model_id]


async def _speech(client: openai.AsyncOpenAI, model: Model, text: str, **extra: object) -> tuple[bytes, str]:
    response = await client.audio.speech.create(
        model=model.provider_id,
        input=text,
        voice=VOICES[model.provider],
        **extra,  # type: ignore[arg-type]
    )
    return response.content, response.response.headers["content-type"]


async def _image_bytes(item: object) -> bytes:
    b64 = getattr(item, "b64_json", None)
    if b64:
        return base64.b64decode(b64)
    url = getattr(item, "url", None)
    assert isinstance(url, str) and url.startswith("http"), item
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(url)  # as a worker would: a provider CDN link, no auth
        response.raise_for_status()
        return response.content


# -- every model, by task -----------------------------------------------------------------
@pytest.mark.parametrize("model_id", _ids("embed_text"))
async def test_embeddings(client: openai.AsyncOpenAI, catalog: Catalog, model_id: str) -> None:
    model = _model(catalog, model_id)
    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.", "Quarks are bound by the strong force."]
    first = await client.embeddings.create(model=model.provider_id, input=texts, encoding_format="float")
    again = await client.embeddings.create(model=model.provider_id, input=texts, encoding_format="float")
    vectors = [item.embedding for item in first.data]
    assert [len(v) for v in vectors] == [EMBEDDING_WIDTHS[model_id]] * 3
    assert all(norm(v) == pytest.approx(1.0, abs=1e-4) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert [item.embedding for item in again.data] == vectors
    if model.provider in TAKES_DIMENSIONS:
        narrow = await client.embeddings.create(model=model.provider_id, input=texts[0], dimensions=256)
        assert len(narrow.data[0].embedding) == 256
        assert norm(narrow.data[0].embedding) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("model_id", _ids("image_generate"))
async def test_images(client: openai.AsyncOpenAI, catalog: Catalog, model_id: str) -> None:
    model = _model(catalog, model_id)
    fox = await client.images.generate(model=model.provider_id, prompt="a red fox in the snow", size="1024x1024")
    owl = await client.images.generate(model=model.provider_id, prompt="an owl at night", size="1024x1024")
    assert fox.data and owl.data
    fox_bytes, owl_bytes = await _image_bytes(fox.data[0]), await _image_bytes(owl.data[0])
    probed = probe(fox_bytes)
    assert (probed.width, probed.height) == IMAGE_SIZE_OVERRIDES.get(model_id, (1024, 1024))
    assert probed.codec in ("png", "mjpeg", "webp")
    assert fox_bytes != owl_bytes


@pytest.mark.parametrize("model_id", _ids("tts"))
async def test_speech_is_real_and_round_trips(client: openai.AsyncOpenAI, catalog: Catalog, model_id: str) -> None:
    model = _model(catalog, model_id)
    short, content_type = await _speech(client, model, SHORT_TEXT)
    long, _ = await _speech(client, model, LONG_TEXT)
    assert content_type.startswith("audio/")
    short_probe, long_probe = probe(short), probe(long)
    assert short_probe.duration is not None and long_probe.duration is not None
    assert long_probe.duration > 2 * short_probe.duration > 0.3
    heard = await client.audio.transcriptions.create(model="openai/whisper-1", file=("speech", long))
    assert heard.text == LONG_TEXT


@pytest.mark.parametrize("model_id", _ids("transcribe"))
async def test_transcription_gives_the_words_back(client: openai.AsyncOpenAI, catalog: Catalog, model_id: str) -> None:
    model = _model(catalog, model_id)
    audio = await media.speech(LONG_TEXT, "mp3")
    heard = await client.audio.transcriptions.create(model=model.provider_id, file=("speech.mp3", audio, "audio/mpeg"))
    assert heard.text == LONG_TEXT
    # Audio that carries no text still gets a deterministic transcript naming its length.
    tone = await media.encode_pcm(b"\x10\x00\xf0\xff" * media.PCM_RATE, "wav")
    plain = await client.audio.transcriptions.create(model=model.provider_id, file=("tone.wav", tone, "audio/wav"))
    assert plain.text == media.fallback_text(2.0)


# -- the transcription formats and the wire details ---------------------------------------
@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json", "srt", "vtt"])
async def test_whisper_response_formats(client: openai.AsyncOpenAI, fmt: str) -> None:
    audio = await media.speech(LONG_TEXT, "mp3")
    create: Any = client.audio.transcriptions.create  # one call for every format's overload
    result = await create(
        model="openai/whisper-1",
        file=("speech.mp3", audio, "audio/mpeg"),
        response_format=fmt,
        timestamp_granularities=["word", "segment"] if fmt == "verbose_json" else openai.NOT_GIVEN,
    )
    if fmt in ("text", "srt", "vtt"):
        # LiteLLM's proxy wraps the upstream's plain-text body in JSON: {"text": body, "usage": null}.
        assert isinstance(result, str)
        body = json.loads(result)["text"]
        if fmt == "text":
            assert body.strip() == LONG_TEXT
        elif fmt == "srt":
            assert re.match(r"1\n00:00:00,000 --> 00:00:0\d,\d{3}\nHello there\.\n", body), body
        else:
            assert body.startswith("WEBVTT\n\n00:00:00.000 --> "), body
    else:
        assert getattr(result, "text", None) == LONG_TEXT
    if fmt == "verbose_json":
        segments, words = getattr(result, "segments", None), getattr(result, "words", None)
        assert segments and words and getattr(result, "duration", 0) > 2
        assert [w.word for w in words] == LONG_TEXT.split()
        assert segments[-1].end == pytest.approx(getattr(result, "duration", 0), abs=0.01)


async def test_groq_transcription_gets_no_subtitle_format(client: openai.AsyncOpenAI, emulator: EmulatorClient) -> None:
    """LiteLLM drops srt/vtt for Groq (it only forwards json, verbose_json, text): the
    client gets JSON, so a worker must build subtitles from verbose_json itself."""
    audio = await media.speech(SHORT_TEXT, "mp3")
    result = await client.audio.transcriptions.create(
        model="groq/whisper-large-v3", file=("speech.mp3", audio, "audio/mpeg"), response_format="srt"
    )
    [call] = emulator.requests(model="whisper-large-v3")
    assert "response_format" not in call["body"]
    assert SHORT_TEXT in str(result)


async def test_speech_formats_and_pcm(client: openai.AsyncOpenAI, catalog: Catalog) -> None:
    model = _model(catalog, "openai/gpt-4o-mini-tts")
    expected = {"mp3": "mp3", "wav": "pcm_s16le", "opus": "opus", "aac": "aac", "flac": "flac"}
    for fmt, codec in expected.items():
        audio, _ = await _speech(client, model, SHORT_TEXT, response_format=fmt)
        assert probe(audio).codec == codec
    pcm, _ = await _speech(client, model, SHORT_TEXT, response_format="pcm")
    assert media.read_watermark(pcm) == SHORT_TEXT  # raw 24 kHz s16le mono, text in the samples


async def test_gemini_tts_is_pcm_wrapped_in_wav_and_called_twice(
    client: openai.AsyncOpenAI, catalog: Catalog, emulator: EmulatorClient
) -> None:
    audio, content_type = await _speech(client, _model(catalog, "gemini/gemini-3.8-flash-tts"), SHORT_TEXT)
    assert content_type == "audio/wav"
    probed = probe(audio)
    assert (probed.codec, probed.sample_rate) == ("pcm_s16le", media.PCM_RATE)
    calls = emulator.requests(model="gemini-3.8-flash-tts")
    assert len(calls) == 2  # LiteLLM bug: aspeech re-runs a sync speech()
    assert all(c["body"]["generationConfig"]["responseModalities"] == ["AUDIO"] for c in calls)


async def test_huggingface_sentence_transformers_are_sent_as_similarity(
    client: openai.AsyncOpenAI, emulator: EmulatorClient
) -> None:
    """Why all-MiniLM-L6-v2 is in UNREACHABLE_MEDIA: this fails once LiteLLM changes it."""
    model = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model=model, input=["one", "two"], encoding_format="float")
    [call] = emulator.requests(model="sentence-transformers/all-MiniLM-L6-v2")
    assert call["path"].endswith("/feature-extraction/sentence-transformers/all-MiniLM-L6-v2")
    assert call["body"]["inputs"] == {"source_sentence": "one", "sentences": ["two"]}


# -- faults, one model per wire family ----------------------------------------------------
async def test_openai_images_429_is_retried_by_litellms_openai_sdk(
    client: openai.AsyncOpenAI, emulator: EmulatorClient
) -> None:
    """The config's `num_retries: 0` does not reach the OpenAI SDK inside LiteLLM: OpenAI
    embeddings and images are still tried 3 times (Retry-After honoured); every other media
    call in this module is tried once."""
    emulator.set_model("gpt-image-2", retry_after=1, fail_times=1)
    started = time.perf_counter()
    result = await client.images.generate(model="openai/gpt-image-2", prompt="a fox", size="1024x1024")
    assert result.data and time.perf_counter() - started >= 0.9
    assert [c["status"] for c in emulator.requests(model="gpt-image-2")] == [429, 200]


async def test_openai_bad_image_size_is_a_400_without_retry(
    client: openai.AsyncOpenAI, emulator: EmulatorClient
) -> None:
    with pytest.raises(openai.BadRequestError, match="size"):
        await client.images.generate(model="openai/gpt-image-2", prompt="a fox", size="100x100")
    assert [c["status"] for c in emulator.requests(model="gpt-image-2")] == [400]


async def test_elevenlabs_unknown_voice_is_a_400_without_retry(
    client: openai.AsyncOpenAI, emulator: EmulatorClient
) -> None:
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        await client.audio.speech.create(model="elevenlabs/eleven_v3", input="hi", voice="no-such-voice")
    assert [c["status"] for c in emulator.requests(model="eleven_v3")] == [400]


@pytest.mark.parametrize("status", [429, 503])
async def test_gemini_embedding_faults_reach_the_client_after_one_attempt(
    client: openai.AsyncOpenAI, emulator: EmulatorClient, status: int
) -> None:
    emulator.set_model("gemini-embedding-001", status=status, fail_times=1)
    with pytest.raises(openai.APIStatusError) as failed:
        await client.embeddings.create(model="gemini/gemini-embedding-001", input="x", encoding_format="float")
    assert failed.value.status_code == status
    assert [c["status"] for c in emulator.requests(model="gemini-embedding-001")] == [status]
    ok = await client.embeddings.create(model="gemini/gemini-embedding-001", input="x", encoding_format="float")
    assert len(ok.data[0].embedding) == 3072


async def test_fal_500_reaches_the_client(client: openai.AsyncOpenAI, emulator: EmulatorClient) -> None:
    emulator.set_model("fal-ai/flux/dev", status=500, fail_times=1)
    with pytest.raises(openai.InternalServerError):
        await client.images.generate(model="fal_ai/fal-ai/flux/dev", prompt="a fox", size="1024x1024")
    result = await client.images.generate(model="fal_ai/fal-ai/flux/dev", prompt="a fox", size="1024x1024")
    assert result.data and result.data[0].url
    assert [c["status"] for c in emulator.requests(model="fal-ai/flux/dev")] == [500, 200]


async def test_transcription_timeout(client: openai.AsyncOpenAI, emulator: EmulatorClient) -> None:
    emulator.set_model("whisper-large-v3-turbo", hang=True)
    audio = await media.speech(SHORT_TEXT, "mp3")
    started = time.perf_counter()
    with pytest.raises(openai.APIStatusError) as failed:
        await client.audio.transcriptions.create(
            model="groq/whisper-large-v3-turbo",
            file=("speech.mp3", audio, "audio/mpeg"),
            extra_body={"timeout": 2},
            timeout=30,
        )
    assert failed.value.status_code in (408, 500, 504)
    assert time.perf_counter() - started < 20


async def test_slow_speech_body_is_paced_by_the_emulator(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    """At the emulator, audio goes out in 8 KiB chunks at `tps` chunks per second: a slow
    body a test can kill a worker in the middle of."""
    emulator.set_model("gpt-4o-mini-tts", tps=10)
    body = {"model": "gpt-4o-mini-tts", "input": LONG_TEXT, "voice": "alloy", "response_format": "wav"}
    arrivals: list[float] = []
    started = time.perf_counter()
    async with http.stream(
        "POST", "/openai/v1/audio/speech", json=body, headers={"Authorization": "Bearer k"}
    ) as response:
        assert response.status_code == 200
        async for _ in response.aiter_raw():
            arrivals.append(time.perf_counter() - started)
    assert len(arrivals) > 10
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 2) / 10 * 0.8


async def test_litellm_relays_speech_only_once_the_upstream_body_is_complete(
    litellm: LiteLLMProxy, emulator: EmulatorClient
) -> None:
    """LiteLLM 1.106.12 reads the whole upstream audio before it sends the first byte (so a
    worker sees a slow provider as a late, complete body). Fails once LiteLLM streams it."""
    emulator.set_model("gpt-4o-mini-tts", tps=10)
    body = {"model": "openai/gpt-4o-mini-tts", "input": LONG_TEXT, "voice": "alloy", "response_format": "wav"}
    arrivals: list[float] = []
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=60) as proxy_http,
        proxy_http.stream("POST", f"{litellm.base_url}/v1/audio/speech", json=body, headers=litellm.auth) as response,
    ):
        assert response.status_code == 200
        async for _ in response.aiter_raw():
            arrivals.append(time.perf_counter() - started)
    assert arrivals[0] > 2.0  # ~33 chunks at 10 per second upstream
    assert arrivals[-1] - arrivals[0] < 0.5


async def test_cut_and_truncated_speech_bodies(litellm: LiteLLMProxy, emulator: EmulatorClient) -> None:
    """A dropped connection mid-audio is a 500 from the proxy; a body that ends cleanly but
    short passes as a 200 with the partial audio (a worker must check what it got)."""
    body = {"model": "openai/gpt-4o-mini-tts", "input": LONG_TEXT, "voice": "alloy", "response_format": "wav"}
    async with httpx.AsyncClient(timeout=60) as proxy_http:
        emulator.set_model("gpt-4o-mini-tts", cut_after=1)
        cut = await proxy_http.post(f"{litellm.base_url}/v1/audio/speech", json=body, headers=litellm.auth)
        assert cut.status_code == 500 and "Connection error" in cut.json()["error"]["message"]
        emulator.set_model("gpt-4o-mini-tts", truncate_after=1)
        short = await proxy_http.post(f"{litellm.base_url}/v1/audio/speech", json=body, headers=litellm.auth)
        assert short.status_code == 200 and len(short.content) == 8192


# -- the model list cannot drift ----------------------------------------------------------
def test_every_media_model_is_reached_or_listed_with_a_reason() -> None:
    all_media = {model_id for model_id, _ in media_models()}
    assert set(UNREACHABLE_MEDIA) <= all_media, "UNREACHABLE_MEDIA names a model that is not a media model"
    assert {model_id for model_id, _ in REACHABLE} == all_media - set(UNREACHABLE_MEDIA)


def test_docs_list_exactly_the_unreachable_models_with_their_reasons() -> None:
    doc = PROVIDERS_DOC.read_text()
    section = doc[doc.index("## Media models against the emulator") :]
    end = section.find("\n## ")  # the next section, if any
    section = section if end < 0 else section[:end]
    unreachable_rows = {
        match[0]: match[1] for match in re.findall(r"^\| `([^`]+)` \| unreachable \| (.+?) \|$", section, re.MULTILINE)
    }
    assert unreachable_rows == UNREACHABLE_MEDIA
    reached_rows = set(re.findall(r"^\| `([^`]+)` \| end to end \|", section, re.MULTILINE))
    assert reached_rows == {model_id for model_id, _ in REACHABLE}
