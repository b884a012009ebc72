"""The media wires straight at the emulator: the shapes and provider errors LiteLLM does not
reach in the catalog (Imagen ``:predict``, ElevenLabs output formats, fal auth, Hugging
Face similarity), the URL media store, faults on binary bodies, and the tone fallback."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from sandbox.emulator import media
from sandbox.emulator.client import EmulatorClient
from tests.support.media_probe import probe

OPENAI = {"Authorization": "Bearer k"}
GEMINI = {"x-goog-api-key": "k"}
ELEVEN = {"xi-api-key": "k"}
FAL = {"Authorization": "Key k"}
VOICE_ID = "21m00Tcm4TlvDq8ikWAM"


async def test_imagen_predict(http: httpx.AsyncClient) -> None:
    body = {"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    response = await http.post("/gemini/v1beta/models/imagen-4.0-generate-001:predict", json=body, headers=GEMINI)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    images = [base64.b64decode(p["bytesBase64Encoded"]) for p in predictions]
    assert [p["mimeType"] for p in predictions] == ["image/png", "image/png"]
    assert [(probe(i).width, probe(i).height) for i in images] == [(1408, 768), (1408, 768)]
    assert images[0] != images[1]
    bad = {"instances": [{"prompt": "a fox"}], "parameters": {"aspectRatio": "7:5"}}
    refused = await http.post("/gemini/v1beta/models/imagen-4.0-generate-001:predict", json=bad, headers=GEMINI)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_gemini_image_size_follows_image_config(http: httpx.AsyncClient) -> None:
    body = {
        "contents": [{"parts": [{"text": "a fox"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE", "TEXT"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
        },
    }
    response = await http.post("/gemini/v1beta/models/gemini-3-pro-image:generateContent", json=body, headers=GEMINI)
    parts = response.json()["candidates"][0]["content"]["parts"]
    [inline] = [p["inlineData"] for p in parts if "inlineData" in p]
    probed = probe(base64.b64decode(inline["data"]))
    assert (probed.width, probed.height) == (2688, 1536)
    assert response.json()["usageMetadata"]["totalTokenCount"] > 0


async def test_gemini_speech_is_l16_pcm_carrying_its_text(http: httpx.AsyncClient) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Good morning."}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
        },
    }
    response = await http.post("/gemini/v1beta/models/gemini-3.8-flash-tts:generateContent", json=body, headers=GEMINI)
    [part] = response.json()["candidates"][0]["content"]["parts"]
    assert part["inlineData"]["mimeType"] == "audio/L16;codec=pcm;rate=24000"
    assert media.read_watermark(base64.b64decode(part["inlineData"]["data"])) == "Good morning."
    body["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] = "alloy"  # type: ignore[index]
    refused = await http.post("/gemini/v1beta/models/gemini-3.8-flash-tts:generateContent", json=body, headers=GEMINI)
    assert refused.status_code == 400 and "alloy" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("output_format", "codec", "rate"),
    [("mp3_44100_128", "mp3", 44100), ("opus_48000_64", "opus", 48000), ("wav_16000", "pcm_s16le", 16000)],
)
async def test_elevenlabs_output_formats(http: httpx.AsyncClient, output_format: str, codec: str, rate: int) -> None:
    response = await http.post(
        f"/elevenlabs/v1/text-to-speech/{VOICE_ID}",
        params={"output_format": output_format},
        json={"text": "Hello there.", "model_id": "eleven_v3"},
        headers=ELEVEN,
    )
    assert response.status_code == 200
    probed = probe(response.content)
    assert (probed.codec, probed.sample_rate) == (codec, rate)


async def test_elevenlabs_raw_pcm_at_the_asked_rate(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/elevenlabs/v1/text-to-speech/{VOICE_ID}",
        params={"output_format": "pcm_16000"},
        json={"text": "Hello there.", "model_id": "eleven_v3"},
        headers=ELEVEN,
    )
    assert response.headers["content-type"] == "audio/pcm"
    assert media.read_watermark(response.content) == "Hello there."


@pytest.mark.parametrize(
    ("path", "params", "body", "status"),
    [
        (
            f"/elevenlabs/v1/text-to-speech/{VOICE_ID}",
            {"output_format": "wav"},
            {"text": "hi", "model_id": "eleven_v3"},
            400,
        ),
        (
            f"/elevenlabs/v1/text-to-speech/{VOICE_ID}",
            {"output_format": "aac"},
            {"text": "hi", "model_id": "eleven_v3"},
            400,
        ),
        ("/elevenlabs/v1/text-to-speech/Rachel", {}, {"text": "hi", "model_id": "eleven_v3"}, 400),
        (f"/elevenlabs/v1/text-to-speech/{VOICE_ID}", {}, {"text": "x" * 5001, "model_id": "eleven_v3"}, 400),
        (f"/elevenlabs/v1/text-to-speech/{VOICE_ID}", {}, {"model_id": "eleven_v3"}, 422),
    ],
)
async def test_elevenlabs_refusals(
    http: httpx.AsyncClient, path: str, params: dict[str, str], body: dict[str, str], status: int
) -> None:
    response = await http.post(path, params=params, json=body, headers=ELEVEN)
    assert response.status_code == status
    assert response.json()["detail"]["message"]


async def test_elevenlabs_needs_its_key(http: httpx.AsyncClient) -> None:
    response = await http.post(f"/elevenlabs/v1/text-to-speech/{VOICE_ID}", json={"text": "hi", "model_id": "m"})
    assert response.status_code == 401 and response.json()["detail"]["status"] == "invalid_api_key"


async def test_elevenlabs_speech_to_text_words_and_spacing(http: httpx.AsyncClient) -> None:
    audio = await media.speech("One two three.", "mp3")
    files = {"file": ("a.mp3", audio, "audio/mpeg")}
    response = await http.post(
        "/elevenlabs/v1/speech-to-text",
        data={"model_id": "scribe_v2", "language_code": "en"},
        files=files,
        headers=ELEVEN,
    )
    body = response.json()
    assert body["text"] == "One two three." and body["language_code"] == "eng"
    assert [w["text"] for w in body["words"] if w["type"] == "word"] == ["One", "two", "three."]
    assert [w["type"] for w in body["words"]] == ["word", "spacing", "word", "spacing", "word"]


async def test_fal_needs_key_auth_and_serves_its_images(http: httpx.AsyncClient) -> None:
    body = {"prompt": "a fox", "image_size": {"width": 640, "height": 480}, "num_images": 2, "output_format": "png"}
    assert (await http.post("/fal/fal-ai/flux/dev", json=body, headers=OPENAI)).status_code == 401
    response = await http.post("/fal/fal-ai/flux/dev", json=body, headers=FAL)
    images = response.json()["images"]
    assert [(i["width"], i["height"], i["content_type"]) for i in images] == [(640, 480, "image/png")] * 2
    downloaded = (await http.get(images[0]["url"])).content  # no auth, like fal's CDN
    assert (probe(downloaded).width, probe(downloaded).height) == (640, 480)
    assert (await http.get("/media/no-such-file.png")).status_code == 404
    bad = await http.post("/fal/fal-ai/flux/dev", json={"prompt": "a fox", "image_size": "huge"}, headers=FAL)
    assert bad.status_code == 422 and "image_size" in bad.json()["detail"]


async def test_huggingface_feature_extraction_and_similarity(http: httpx.AsyncClient) -> None:
    base = "/huggingface/hf-inference/pipeline"
    model = "BAAI/bge-small-en-v1.5"
    vectors = (
        await http.post(f"{base}/feature-extraction/{model}", json={"inputs": ["a", "b"]}, headers=OPENAI)
    ).json()
    assert [len(v) for v in vectors] == [8, 8]
    single = (await http.post(f"{base}/feature-extraction/{model}", json={"inputs": "a"}, headers=OPENAI)).json()
    assert single == vectors[0]
    inputs = {"source_sentence": "the cat sat", "sentences": ["the cat sat", "quarks and gluons"]}
    scores = (await http.post(f"{base}/sentence-similarity/{model}", json={"inputs": inputs}, headers=OPENAI)).json()
    assert scores[0] == pytest.approx(1.0) and scores[1] < 0.5
    refused = await http.post(f"{base}/feature-extraction/{model}", json={"inputs": inputs}, headers=OPENAI)
    assert refused.status_code == 400 and "inputs" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"model": "gpt-4o-mini-tts", "input": "hi", "voice": "nobody"}, "voice"),
        ({"model": "gpt-4o-mini-tts", "input": "hi", "voice": "alloy", "response_format": "ogg"}, "response_format"),
        ({"model": "gpt-4o-mini-tts", "input": "hi", "voice": "alloy", "speed": 9}, "speed"),
        ({"model": "gpt-4o-mini-tts", "input": "x" * 4097, "voice": "alloy"}, "input"),
    ],
)
async def test_openai_speech_refusals(http: httpx.AsyncClient, body: dict[str, object], problem: str) -> None:
    response = await http.post("/openai/v1/audio/speech", json=body, headers=OPENAI)
    assert response.status_code == 400 and problem in response.json()["error"]["message"]


async def test_gpt_4o_transcribe_refuses_verbose_json(http: httpx.AsyncClient) -> None:
    audio = await media.speech("hi", "mp3")
    response = await http.post(
        "/openai/v1/audio/transcriptions",
        data={"model": "gpt-4o-transcribe", "response_format": "verbose_json"},
        files={"file": ("a.mp3", audio, "audio/mpeg")},
        headers=OPENAI,
    )
    assert response.status_code == 400 and "verbose_json" in response.json()["error"]["message"]
    garbage = await http.post(
        "/openai/v1/audio/transcriptions",
        data={"model": "whisper-1"},
        files={"file": ("a.mp3", b"not audio", "audio/mpeg")},
        headers=OPENAI,
    )
    assert garbage.status_code == 400 and "Invalid file format" in garbage.json()["error"]["message"]


async def test_media_requests_are_logged_without_the_file(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    audio = await media.speech("hi", "mp3")
    await http.post(
        "/groq/openai/v1/audio/transcriptions",
        data={"model": "whisper-large-v3", "response_format": "verbose_json"},
        files={"file": ("a.mp3", audio, "audio/mpeg")},
        headers=OPENAI,
    )
    [entry] = emulator.requests(model="whisper-large-v3")
    assert entry["body"] == {
        "model": "whisper-large-v3",
        "response_format": "verbose_json",
        "file": {"filename": "a.mp3", "content_type": "audio/mpeg", "bytes": len(audio)},
    }


async def test_faults_apply_to_speech_bodies(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    body = {"model": "gpt-4o-mini-tts", "input": "A sentence long enough for a few chunks.", "voice": "alloy"}
    emulator.set_model("gpt-4o-mini-tts", retry_after=2)
    limited = await http.post("/openai/v1/audio/speech", json={**body, "response_format": "wav"}, headers=OPENAI)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    emulator.set_model("gpt-4o-mini-tts", cut_after=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/openai/v1/audio/speech", json={**body, "response_format": "wav"}, headers=OPENAI)
    emulator.set_model("gpt-4o-mini-tts", truncate_after=1)
    short = await http.post("/openai/v1/audio/speech", json={**body, "response_format": "wav"}, headers=OPENAI)
    assert short.status_code == 200 and len(short.content) == 8192


async def test_without_espeak_ng_speech_is_a_tone_that_grows_with_the_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A PATH with ffmpeg and ffprobe but no espeak-ng, as on a machine without the package.
    for tool in ("ffmpeg", "ffprobe"):
        found = next(Path(d) / tool for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / tool).exists())
        (tmp_path / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not media.espeak_available()
    short, long = await media.speech("Hi.", "mp3"), await media.speech("Hi. " * 20, "mp3")
    short_probe, long_probe = probe(short), probe(long)
    assert short_probe.duration is not None and long_probe.duration is not None
    assert long_probe.duration > 3 * short_probe.duration
    assert (await media.transcribe(long)).text == "Hi. " * 20


async def test_only_text_embedding_3_cuts_to_the_asked_dimensions(http: httpx.AsyncClient) -> None:
    """As the providers do: OpenAI's text-embedding-3 models cut to `dimensions` (and refuse
    more than their width); a fixed-width model (bge on Together) ignores it."""

    async def width(prefix: str, model: str, dimensions: int) -> int | None:
        body = {"model": model, "input": "a cat", "dimensions": dimensions}
        response = await http.post(f"{prefix}/embeddings", json=body, headers=OPENAI)
        return len(response.json()["data"][0]["embedding"]) if response.status_code == 200 else None

    assert await width("/openai/v1", "text-embedding-3-small", 256) == 256
    assert await width("/openai/v1", "text-embedding-3-small", 2048) is None  # a 400: wider than 1,536
    assert await width("/together/v1", "BAAI/bge-base-en-v1.5", 1024) == 768
