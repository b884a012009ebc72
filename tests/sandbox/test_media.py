"""The emulator's media makers: real, decodable, deterministic, and carrying their text."""

from __future__ import annotations

import itertools

import pytest

from sandbox.emulator import media
from sandbox.emulator.reply import embedding
from tests.support.media_probe import cosine, norm, probe

FORMATS: list[media.AudioFormat] = ["mp3", "wav", "opus", "aac", "flac"]
CODECS = {"mp3": "mp3", "wav": "pcm_s16le", "opus": "opus", "aac": "aac", "flac": "flac"}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_speech_decodes_grows_with_text_and_transcribes_back(fmt: media.AudioFormat) -> None:
    short_text = "Hello there."
    long_text = "Hello there. This sentence is a good deal longer than the first one, so it lasts longer."
    short, long = await media.speech(short_text, fmt), await media.speech(long_text, fmt)
    short_probe, long_probe = probe(short), probe(long)
    assert short_probe.codec == CODECS[fmt]
    assert short_probe.duration is not None and long_probe.duration is not None
    assert long_probe.duration > 2 * short_probe.duration > 0.5
    assert (await media.transcribe(long)).text == long_text
    # Deterministic: made again from scratch (not through speech()'s cache), the same bytes.
    assert await media.encode_pcm(await media.speech_pcm(short_text), fmt, text=short_text) == short


async def test_raw_pcm_carries_its_text_in_the_samples() -> None:
    text = "Raw samples, no container."
    pcm = await media.speech(text, "pcm")
    assert len(pcm) % 2 == 0 and len(pcm) / 2 / media.PCM_RATE > 1.0
    assert media.read_watermark(pcm) == text
    # Wrapped in a WAV with no tag (as LiteLLM does with Gemini's PCM), it still transcribes.
    untagged_wav = await media.encode_pcm(pcm, "wav", text="")
    assert (await media.transcribe(untagged_wav)).text == text


async def test_voice_and_speed_change_the_audio() -> None:
    text = "The same words, said differently."
    base = await media.speech(text, "wav", voice="alloy")
    assert await media.speech(text, "wav", voice="nova") != base
    slow, fast = probe(await media.speech(text, "wav", speed=0.5)), probe(await media.speech(text, "wav", speed=2.0))
    assert slow.duration is not None and fast.duration is not None and slow.duration > 2 * fast.duration


async def test_audio_without_text_transcribes_to_its_duration() -> None:
    silence = await media.encode_pcm(b"\x01\x00" * media.PCM_RATE * 3, "mp3")
    transcript = await media.transcribe(silence)
    assert not transcript.embedded
    assert transcript.text == media.fallback_text(transcript.duration)
    assert transcript.duration == pytest.approx(3.0, abs=0.1)
    assert "3.0 seconds" in transcript.text


async def test_not_audio_is_a_media_error() -> None:
    with pytest.raises(media.MediaError):
        await media.transcribe(b"this is not audio at all")


def test_segments_and_words_cover_the_duration_in_order() -> None:
    transcript = media.Transcript(text="One two. Three four five!", duration=5.0, embedded=True)
    segments, words = transcript.segments(), transcript.words()
    assert [s.text for s in segments] == ["One two.", "Three four five!"]
    assert [w.text for w in words] == ["One", "two.", "Three", "four", "five!"]
    for timed in ([(s.start, s.end) for s in segments], [(w.start, w.end) for w in words]):
        assert timed[0][0] == 0.0 and timed[-1][1] == 5.0
        assert all(end == pytest.approx(start, abs=0.002) for (_, end), (start, _) in itertools.pairwise(timed))


@pytest.mark.parametrize(("fmt", "codec"), [("png", "png"), ("jpeg", "mjpeg"), ("webp", "webp")])
@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (333, 211)])
async def test_images_decode_at_exactly_the_asked_size(
    fmt: media.ImageFormat, codec: str, width: int, height: int
) -> None:
    picture = await media.image("a red fox", width, height, fmt)
    probed = probe(picture)
    assert (probed.codec, probed.width, probed.height) == (codec, width, height)


async def test_images_differ_by_prompt_and_repeat_for_the_same_prompt() -> None:
    fox, owl = await media.image("a red fox", 64, 64), await media.image("an owl", 64, 64)
    assert fox != owl
    assert await media.render_image("a red fox", 64, 64) == fox  # made again, not from the cache


@pytest.mark.parametrize("size", ["0x10", "10", "5000x10", "axb"])
def test_bad_sizes_are_refused(size: str) -> None:
    with pytest.raises(media.MediaError):
        media.parse_size(size)


@pytest.mark.parametrize("dim", [8, 384, 3072])
def test_embeddings_are_unit_deterministic_and_similar_texts_are_close(dim: int) -> None:
    cat, cats, quarks = (
        embedding("m", "The cat sat on the mat", dim),
        embedding("m", "the cats sat on a mat", dim),
        embedding("m", "Quantum chromodynamics describes quarks", dim),
    )
    assert len(cat) == dim and norm(cat) == pytest.approx(1.0, abs=1e-6)
    assert embedding("m", "The cat sat on the mat", dim) == cat
    if dim >= 384:  # 8 buckets are too few for meaning, but still unit vectors
        assert cosine(cat, cats) > 0.6 > 0.3 > cosine(cat, quarks)


def test_embedding_width_defaults_to_the_model_and_empty_text_is_still_unit() -> None:
    assert len(embedding("text-embedding-3-small", "x")) == 1536
    assert len(embedding("gemini-embedding-001", "x")) == 3072
    assert norm(embedding("m", "", 16)) == pytest.approx(1.0, abs=1e-6)
