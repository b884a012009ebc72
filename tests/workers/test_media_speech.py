"""tts end to end: gateway job → media worker → LiteLLM /v1/audio/speech → emulator (espeak-ng
speech), one artifact of the asked format, checked by decoding it."""

from __future__ import annotations

import base64

import pytest

from tests.support.media_stack import MediaStack, audio_seconds, probe
from workers._speech_text import split_text, text_limit

OPENAI_TTS = "openai/gpt-4o-mini-tts"
SENTENCE = "The quick brown fox jumps over the lazy dog while the band plays on. "


@pytest.mark.parametrize(
    ("fmt", "codec", "content_type"),
    [
        ("mp3", "mp3", "audio/mpeg"),
        ("wav", "pcm_s16le", "audio/wav"),
        ("opus", "opus", "audio/ogg"),
        ("aac", "aac", "audio/aac"),
        ("flac", "flac", "audio/flac"),  # streamed without a total: its duration from a decoder
    ],
)
def test_speech_in_the_asked_format(media: MediaStack, fmt: str, codec: str, content_type: str) -> None:
    job = media.run("tts", {"text": "Hello from the media worker.", "format": fmt}, model=OPENAI_TTS)

    assert job["status"] == "succeeded", job["error"]
    out = job["output"]
    assert (out["model"], out["pieces"]) == (OPENAI_TTS, 1)
    [artifact] = out["artifacts"]
    assert (artifact["name"], artifact["content_type"]) == (f"speech.{fmt}", content_type)
    content = media.read_artifact(job["id"], artifact["name"])
    assert len(content) == artifact["bytes"]
    assert probe(content)["streams"][0]["codec_name"] == codec
    seconds = audio_seconds(content)
    assert seconds > 0.5
    assert artifact["metadata"]["duration_s"] == pytest.approx(seconds, abs=0.15)


def test_raw_pcm_is_stored_as_declared_audio_pcm(media: MediaStack) -> None:
    job = media.run("tts", {"text": "Raw samples, please.", "format": "pcm"}, model=OPENAI_TTS)

    assert job["status"] == "succeeded", job["error"]
    [artifact] = job["output"]["artifacts"]
    assert (artifact["name"], artifact["content_type"]) == ("speech.pcm", "audio/pcm")
    content = media.read_artifact(job["id"], "speech.pcm")
    seconds = audio_seconds(content, ("-f", "s16le", "-ar", "24000", "-ac", "1"))
    assert seconds == pytest.approx(len(content) / 48000, abs=0.01)
    assert artifact["metadata"]["duration_s"] == pytest.approx(seconds, abs=0.05)


def test_text_longer_than_the_model_takes_is_one_joined_file(media: MediaStack) -> None:
    text = SENTENCE * 70  # ~4,700 characters: over OpenAI's 4,096
    pieces = split_text(text, text_limit("openai", OPENAI_TTS))
    assert len(pieces) == 2

    joined = media.run("tts", {"text": text, "format": "mp3"}, timeout=180, model=OPENAI_TTS)
    alone = [media.run("tts", {"text": piece, "format": "wav"}, timeout=120, model=OPENAI_TTS) for piece in pieces]

    assert joined["status"] == "succeeded", joined["error"]
    assert joined["output"]["pieces"] == 2
    [artifact] = joined["output"]["artifacts"]
    seconds = audio_seconds(media.read_artifact(joined["id"], artifact["name"]))
    parts = [audio_seconds(media.read_artifact(job["id"], "speech.wav")) for job in alone]
    assert seconds == pytest.approx(sum(parts), rel=0.03)  # mp3 frames pad each end a little
    assert artifact["metadata"]["duration_s"] == pytest.approx(sum(parts), rel=0.02)


def test_streamed_speech_sends_the_audio_as_it_comes(media: MediaStack) -> None:
    job = media.run("tts", {"text": "Stream me as you go.", "format": "mp3"}, model=OPENAI_TTS, stream_audio=True)

    assert job["status"] == "succeeded", job["error"]
    deltas = [e for e in media.output_events(job["id"]) if e.get("type") == "speech.audio.delta"]
    assert deltas
    streamed = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert streamed == media.read_artifact(job["id"], "speech.mp3")


def test_streamed_speech_goes_out_in_few_large_deltas(media: MediaStack) -> None:
    job = media.run("tts", {"text": SENTENCE * 12, "format": "wav"}, model=OPENAI_TTS, stream_audio=True)

    assert job["status"] == "succeeded", job["error"]
    deltas = [e for e in media.output_events(job["id"]) if e.get("type") == "speech.audio.delta"]
    streamed = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert streamed == media.read_artifact(job["id"], "speech.wav")
    assert len(streamed) > 4 * 65536
    # The first bytes alone, then batches of up to 64 KiB (LiteLLM sends the whole body at once).
    assert len(deltas) <= 2 + len(streamed) // 65536


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 429, "retry_after": 0}])
def test_a_failing_speech_model_falls_back(media: MediaStack, fault: dict[str, int]) -> None:
    chain = media.chain("tts")
    media.stack.emulator.set_model(media.upstream_name(chain[0]), **fault)

    job = media.run("tts", {"text": "Somebody else will say this.", "format": "mp3"})

    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] != chain[0]
    assert probe(media.read_artifact(job["id"], "speech.mp3"))["streams"][0]["codec_name"] == "mp3"


def test_an_unknown_voice_is_a_400_without_fallback(media: MediaStack) -> None:
    chain = media.chain("tts", model=OPENAI_TTS)
    media.stack.emulator.set_model(media.upstream_name(chain[0]), status=400)

    job = media.run("tts", {"text": "Nobody says this.", "voice": "no-such-voice"}, model=OPENAI_TTS)

    assert job["status"] == "failed", job
    assert (job["error"]["status"], job["error"]["code"]) == (400, "upstream_rejected")
    assert job["error"]["message"]
    assert media.files_of(job["id"]) == []


@pytest.mark.parametrize("model", ["gemini/gemini-3.8-flash-tts", "groq/canopylabs/orpheus-v1-english"])
def test_openai_voice_names_speak_on_providers_with_their_own_voices(media: MediaStack, model: str) -> None:
    """Gemini and Groq refuse OpenAI's voice names (LiteLLM passes them on unchanged): sent as
    is, `alloy` would be a 400 there and a fallback to them would fail instead of speaking."""
    job = media.run("tts", {"text": "Hello in another voice.", "voice": "alloy", "format": "wav"}, model=model)

    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] == model
    sent = media.stack.emulator.requests(model=media.upstream_name(model))[-1]
    assert "alloy" not in str(sent["body"]).lower()


def test_a_providers_own_voice_is_sent_as_it_is(media: MediaStack) -> None:
    model = "groq/canopylabs/orpheus-v1-english"
    job = media.run("tts", {"text": "Troy speaking.", "voice": "troy", "format": "wav"}, model=model)

    assert job["status"] == "succeeded", job["error"]
    assert "troy" in str(media.stack.emulator.requests(model=media.upstream_name(model))[-1]["body"])
