"""Content types from the first bytes: real files from real encoders (samples/, made by
samples/make_samples.sh), plus hand-made headers for the rules' edges."""

from __future__ import annotations

import pytest

from artifacts import SUPPORTED_CONTENT_TYPES, ContentTypeMismatch, UnsupportedContentType
from artifacts._sniff import DECLARED_ONLY_TYPES, SNIFF_BYTES, normalize, resolve_content_type, sniff
from tests.support.artifacts import sample

SAMPLES = {
    "image.png": ("image/png",),
    "image.jpg": ("image/jpeg",),
    "image.gif": ("image/gif",),
    "image.webp": ("image/webp",),
    "tone.wav": ("audio/wav",),
    "tone-id3.mp3": ("audio/mpeg",),
    "tone-frames.mp3": ("audio/mpeg",),  # no ID3 tag; an MPEG-2.5 frame (0xFFE3)
    "tone.opus": ("audio/ogg", "audio/opus"),
    "tone.ogg": ("audio/ogg",),  # Vorbis: not Opus
    "tone.flac": ("audio/flac",),
    "tone.aac": ("audio/aac",),
    "tone.m4a": ("audio/mp4",),
    "clip.mp4": ("video/mp4", "audio/mp4"),
    "clip.webm": ("video/webm", "audio/webm"),
    "tone.webm": ("video/webm", "audio/webm"),
    "clip.mkv": (),  # Matroska that is not WebM
    "clip.mov": (),  # QuickTime
}


@pytest.mark.parametrize(("name", "types"), SAMPLES.items(), ids=SAMPLES.keys())
def test_each_sample_is_recognised_from_its_first_bytes(name: str, types: tuple[str, ...]) -> None:
    assert sniff(sample(name)[:SNIFF_BYTES]) == types


def test_every_supported_type_is_recognised_in_some_sample() -> None:
    recognised = {content_type for types in SAMPLES.values() for content_type in types}
    assert recognised == set(SUPPORTED_CONTENT_TYPES) - set(DECLARED_ONLY_TYPES)


@pytest.mark.parametrize(
    ("head", "types"),
    [
        (b"\xff\xfb\x90\x00", ("audio/mpeg",)),  # MPEG-1 Layer III
        (b"\xff\xfa\x90\x00", ("audio/mpeg",)),  # ... with CRC
        (b"\xff\xf3\x90\x00", ("audio/mpeg",)),  # MPEG-2 Layer III
        (b"\xff\xfd\x90\x00", ()),  # Layer II: not MP3
        (b"\xff\xeb\x90\x00", ()),  # reserved MPEG version
        (b"\xff\xfb\xf0\x00", ()),  # bitrate index 15 is invalid
        (b"\xff\xfb\x9c\x00", ()),  # sample rate index 3 is reserved
        (b"\xff\xf1\x50\x80", ("audio/aac",)),  # ADTS, MPEG-4, no CRC
        (b"\xff\xf9\x50\x80", ("audio/aac",)),  # ADTS, MPEG-2
        (b"\xff\xf1\xf4\x80", ()),  # ADTS with a reserved sampling index
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", ()),  # a HEIF image, not MP4
        (b"\x00\x00\x00\x18ftypM4B \x00\x00\x00\x00", ("audio/mp4",)),  # an audiobook
        (b"OggS" + bytes(24) + b"\x7fFLAC", ("audio/ogg",)),
        (b"\x1a\x45\xdf\xa3\x93\x42\x82\x40\x04webm", ("video/webm", "audio/webm")),  # 2-byte size
        (b"\x1a\x45\xdf\xa3\x93\x42\x82", ()),  # cut before the DocType's size
        (b"RIFF\x00\x00\x00\x00AVI ", ()),
        (b"", ()),
        (b"<html>", ()),
    ],
)
def test_edges_of_the_rules(head: bytes, types: tuple[str, ...]) -> None:
    assert sniff(head) == types


def test_a_declared_type_is_normalized_and_must_agree() -> None:
    assert resolve_content_type("Audio/X-WAV; codecs=1", sample("tone.wav")) == "audio/wav"
    assert resolve_content_type("audio/opus", sample("tone.opus")) == "audio/opus"
    assert resolve_content_type("audio/webm", sample("tone.webm")) == "audio/webm"
    assert resolve_content_type(None, sample("tone.opus")) == "audio/ogg"
    with pytest.raises(ContentTypeMismatch) as vorbis:
        resolve_content_type("audio/opus", sample("tone.ogg"))
    assert (vorbis.value.declared, vorbis.value.sniffed) == ("audio/opus", "audio/ogg")
    with pytest.raises(ContentTypeMismatch):
        resolve_content_type("video/mp4", sample("tone.m4a"))
    with pytest.raises(ContentTypeMismatch) as unknown:
        resolve_content_type(None, b"plain text")
    assert unknown.value.sniffed is None
    with pytest.raises(UnsupportedContentType):
        resolve_content_type("image/svg+xml", b"<svg/>")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("image/jpg", "image/jpeg"),
        ("audio/mp3", "audio/mpeg"),
        ("AUDIO/FLAC", "audio/flac"),
        ("audio/x-m4a", "audio/mp4"),
    ],
)
def test_aliases(given: str, expected: str) -> None:
    assert normalize(given) == expected


def test_raw_pcm_is_stored_only_when_declared() -> None:
    samples = bytes(range(0, 256, 3)) * 4  # 16-bit samples have no header: nothing to sniff
    assert sniff(samples[:SNIFF_BYTES]) == ()
    assert resolve_content_type("audio/pcm", samples[:SNIFF_BYTES]) == "audio/pcm"
    assert resolve_content_type("audio/L16; rate=24000", samples[:SNIFF_BYTES]) == "audio/pcm"
    with pytest.raises(ContentTypeMismatch):
        resolve_content_type(None, samples[:SNIFF_BYTES])  # undeclared: never guessed as pcm
    with pytest.raises(ContentTypeMismatch) as known:
        resolve_content_type("audio/pcm", sample("tone.wav")[:SNIFF_BYTES])  # a WAV file is not raw
    assert known.value.sniffed == "audio/wav"
    with pytest.raises(ContentTypeMismatch):
        resolve_content_type("audio/pcm", b"")
