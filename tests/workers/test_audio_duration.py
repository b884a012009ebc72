"""Header-read durations against what ffmpeg decodes (and ffprobe claims) of real encoder output,
fed in uneven chunks as a provider's stream would arrive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from workers._audio_duration import meter_for

SECONDS = 3.3
RATE = 24_000
TONE = ("-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}:sample_rate={RATE}")

# name -> (meter format, ffmpeg output arguments, one frame's seconds: the tolerance)
CASES: dict[str, tuple[str, tuple[str, ...], float]] = {
    "mp3 CBR piped (no Xing)": ("mp3", ("-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"), 576 / RATE),
    "mp3 CBR file, ID3 + Info": ("mp3", ("-c:a", "libmp3lame", "-b:a", "128k", "-metadata", "title=T"), 576 / RATE),
    "mp3 VBR file, Xing": ("mp3", ("-c:a", "libmp3lame", "-q:a", "4"), 576 / RATE),
    "mp3 VBR piped": ("mp3", ("-c:a", "libmp3lame", "-q:a", "2", "-ar", "44100", "-f", "mp3"), 1152 / 44100),
    "mp3 no ID3, no Xing": ("mp3", ("-c:a", "libmp3lame", "-write_xing", "0", "-id3v2_version", "0"), 576 / RATE),
    "wav piped": ("wav", ("-c:a", "pcm_s16le", "-f", "wav"), 0.001),
    "wav stereo 44.1k file": ("wav", ("-c:a", "pcm_s16le", "-ac", "2", "-ar", "44100"), 0.001),
    "aac adts": ("aac", ("-c:a", "aac", "-b:a", "128k", "-f", "adts"), 1024 / RATE),
    "opus ogg piped": ("opus", ("-c:a", "libopus", "-b:a", "64k", "-f", "ogg"), 0.02),
    "vorbis ogg piped": ("opus", ("-c:a", "libvorbis", "-f", "ogg"), 0.02),
    "flac file": ("flac", ("-c:a", "flac"), 0.001),
}


def _encoded(tmp_path: Path, args: tuple[str, ...], *, piped: bool) -> bytes:
    if piped:
        return subprocess.run(["ffmpeg", "-v", "error", *TONE, *args, "pipe:1"], capture_output=True, check=True).stdout
    ext = {"libmp3lame": "mp3", "pcm_s16le": "wav", "flac": "flac"}[args[1]]
    path = tmp_path / f"tone.{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *TONE, *args, str(path)], check=True)
    return path.read_bytes()


def _decoded_seconds(content: bytes) -> float:
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1"],
        input=content,
        capture_output=True,
        check=True,
    ).stdout
    return len(pcm) / 96_000


def _probed_seconds(tmp_path: Path, content: bytes) -> float:
    path = tmp_path / "probed"  # a file: on a pipe ffprobe cannot seek to the end for a duration
    path.write_bytes(content)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(path)], capture_output=True, check=True
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def _measured(fmt: str, content: bytes, chunk: int) -> float | None:
    meter = meter_for(fmt)
    assert meter is not None
    for at in range(0, len(content), chunk):
        meter.feed(content[at : at + chunk])
    return meter.seconds


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_header_duration_is_what_a_decoder_plays(tmp_path: Path, name: str, chunk: int) -> None:
    fmt, args, frame = CASES[name]
    content = _encoded(tmp_path, args, piped=args[-2] == "-f")

    seconds = _measured(fmt, content, chunk)

    assert seconds is not None
    assert seconds == pytest.approx(_decoded_seconds(content), abs=frame)


# Not VBR MP3 without a Xing frame (ffprobe estimates it from the first frames' bitrate), nor with
# one (ffprobe's format duration keeps the encoder delay and padding that decoders drop).
@pytest.mark.parametrize("name", ["mp3 CBR piped (no Xing)", "wav piped", "opus ogg piped"])
def test_header_duration_agrees_with_ffprobe(tmp_path: Path, name: str) -> None:
    fmt, args, frame = CASES[name]
    content = _encoded(tmp_path, args, piped=args[-2] == "-f")

    assert _measured(fmt, content, 65536) == pytest.approx(_probed_seconds(tmp_path, content), abs=frame)


def test_a_wav_data_size_placeholder_is_not_trusted() -> None:
    # What a streaming provider sends: the sizes are 0xFFFFFFFF, the samples simply follow.
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + RATE.to_bytes(4, "little")
    header += (RATE * 2).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    header += b"data\xff\xff\xff\xff"

    assert _measured("wav", header + bytes(RATE * 2 * 3), 5000) == 3.0


def test_raw_pcm_is_its_length_over_48000_bytes_a_second() -> None:
    assert _measured("pcm", bytes(48_000 * 2 + 24_000), 333) == 2.5


def test_flac_written_to_a_pipe_is_not_measurable_from_its_header(tmp_path: Path) -> None:
    # The encoder cannot go back to fill in STREAMINFO's total samples: the caller must decode.
    content = _encoded(tmp_path, ("-c:a", "flac", "-f", "flac"), piped=True)

    assert _measured("flac", content, 64) is None


@pytest.mark.parametrize("fmt", ["wav", "aac", "opus", "flac"])
def test_something_else_is_not_measurable(fmt: str) -> None:
    assert _measured(fmt, b"<html>upstream said no</html>" * 10, 64) is None


def test_an_mp3_tail_tag_is_not_counted(tmp_path: Path) -> None:
    content = _encoded(tmp_path, CASES["mp3 CBR piped (no Xing)"][1], piped=True)
    id3v1 = b"TAG" + b"\xff\xfb\x90\x00" * 31  # a tail that looks like frame headers

    assert _measured("mp3", content + id3v1, 4096) == _measured("mp3", content, 4096)


def test_an_unknown_format_has_no_meter() -> None:
    assert meter_for("mid") is None
