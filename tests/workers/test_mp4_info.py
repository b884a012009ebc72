"""MP4 duration and size read from `moov` as the bytes stream past, against what ffprobe says of
the same files: fast-start or not, H.264 and HEVC, fed in chunks from 1 byte to 1 MiB."""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifacts import ArtifactMetadata
from workers._mp4_info import Mp4Info, Mp4Walker
from workers._video_probe import VideoProbe

CHUNKS = (1, 7, 4096, 65_537, 1024 * 1024)

# name -> (size, seconds, rate, codec arguments)
CASES: dict[str, tuple[str, float, int, tuple[str, ...]]] = {
    "h264 320x240 2s": ("320x240", 2.0, 24, ("-c:v", "libx264")),
    "h264 1280x720 3.5s": ("1280x720", 3.5, 30, ("-c:v", "libx264", "-preset", "ultrafast")),
    "h264 odd 322x180 1.3s": ("322x180", 1.3, 25, ("-c:v", "libx264", "-preset", "ultrafast")),
    "hevc 640x360 1s": ("640x360", 1.0, 30, ("-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=none")),
}


def _encoders() -> str:
    return subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True).stdout


def _make(tmp_path: Path, case: str, *, faststart: bool, audio: bool = True) -> Path:
    size, seconds, rate, codec = CASES[case]
    if codec[1] == "libx265" and "libx265" not in _encoders():
        pytest.skip("ffmpeg has no HEVC encoder")
    path = tmp_path / f"{case.replace(' ', '_')}_{faststart}.mp4"
    sources = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        sources += ["-f", "lavfi", "-i", f"sine=duration={seconds}"]
    flags = ["-movflags", "+faststart"] if faststart else []
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *sources, *codec, "-pix_fmt", "yuv420p", *flags, str(path)], check=True
    )
    return path


def _probed(path: Path) -> Mp4Info:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "format=duration:stream=width,height",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
    ).stdout
    found = json.loads(out)
    stream = found["streams"][0]
    return Mp4Info(round(float(found["format"]["duration"]), 3), int(stream["width"]), int(stream["height"]))


def _walked(content: bytes, chunk: int) -> Mp4Walker:
    walker = Mp4Walker()
    for at in range(0, len(content), chunk):
        walker.feed(content[at : at + chunk])
    return walker


def _moov_position(content: bytes) -> str:
    return "front" if content.find(b"moov") < content.find(b"mdat") else "back"


@pytest.mark.parametrize("faststart", [True, False], ids=["faststart", "moov-last"])
@pytest.mark.parametrize("case", list(CASES))
def test_reads_what_ffprobe_reads_in_any_chunking(tmp_path: Path, case: str, faststart: bool) -> None:
    path = _make(tmp_path, case, faststart=faststart)
    content = path.read_bytes()
    assert _moov_position(content) == ("front" if faststart else "back")
    expected = _probed(path)
    for chunk in CHUNKS:
        walker = _walked(content, chunk)
        assert walker.info is not None, (case, chunk)
        assert (walker.info.width, walker.info.height) == (expected.width, expected.height)
        assert walker.info.duration_s == pytest.approx(expected.duration_s, abs=0.002), (case, chunk)


def test_a_video_alone_is_read(tmp_path: Path) -> None:
    path = _make(tmp_path, "h264 320x240 2s", faststart=False, audio=False)
    walker = _walked(path.read_bytes(), 4096)
    expected = _probed(path)
    assert walker.info == expected


def _box(kind: bytes, body: bytes, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _split(content: bytes) -> list[tuple[bytes, bytes]]:
    boxes, at = [], 0
    while at < len(content):
        size, kind = struct.unpack_from(">I4s", content, at)
        boxes.append((kind, content[at + 8 : at + size]))
        at += size
    return boxes


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_largesize_headers_are_read(tmp_path: Path, chunk: int) -> None:
    path = _make(tmp_path, "h264 320x240 2s", faststart=False)
    rewritten = b"".join(_box(kind, body, large=kind in (b"mdat", b"moov")) for kind, body in _split(path.read_bytes()))
    walker = _walked(rewritten, chunk)
    assert walker.info == _probed(path)


def test_mdat_is_never_held(tmp_path: Path) -> None:
    walker = Mp4Walker(moov_cap=64 * 1024)
    walker.feed(_box(b"ftyp", b"isom\x00\x00\x02\x00isom"))
    walker.feed(struct.pack(">I4sQ", 1, b"mdat", 16 + (1 << 33)))  # 8 GiB of media, never sent
    for _ in range(64):
        walker.feed(bytes(1024 * 1024))
    assert not walker.finished and walker.past_head
    assert len(walker._head) == 0 and walker._moov is None


def test_gives_up_on_what_is_not_an_mp4_or_too_big_a_moov(tmp_path: Path) -> None:
    not_mp4 = Mp4Walker()
    not_mp4.feed(b"\x1aE\xdf\xa3" + bytes(64))  # Matroska / WebM
    assert not_mp4.failed and not_mp4.info is None

    huge = Mp4Walker(moov_cap=1024)
    huge.feed(_box(b"ftyp", b"isom\x00\x00\x02\x00") + struct.pack(">I4s", 8 + 4096, b"moov"))
    assert huge.failed

    path = _make(tmp_path, "h264 320x240 2s", faststart=True)
    broken = path.read_bytes().replace(b"mvhd", b"mvhX", 1)
    assert _walked(broken, 4096).failed


async def _teed(content: bytes, chunk: int) -> tuple[VideoProbe, bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(content), chunk):
            yield content[at : at + chunk]

    probe = VideoProbe()
    passed = b"".join([piece async for piece in probe.tee(chunks())])
    return probe, passed


@pytest.mark.parametrize("faststart", [True, False], ids=["faststart", "moov-last"])
async def test_the_probe_reads_an_mp4_without_ffprobe(tmp_path: Path, faststart: bool) -> None:
    path = _make(tmp_path, "h264 320x240 2s", faststart=faststart)
    probe, passed = await _teed(path.read_bytes(), 1000)
    assert passed == path.read_bytes() and not probe.probed
    expected = _probed(path)
    assert probe.metadata() == ArtifactMetadata(duration_s=expected.duration_s, width=320, height=240)


def _make_mkv(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mkv"
    encode = ["-c:v", "libx264", "-preset", "ultrafast"]
    source = ["-f", "lavfi", "-i", "testsrc=size=176x144:rate=10:duration=1"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *encode, str(path)], check=True)
    return path


async def test_the_probe_falls_back_to_ffprobe_for_what_the_walk_cannot_read(tmp_path: Path) -> None:
    path = _make_mkv(tmp_path)
    probe, passed = await _teed(path.read_bytes(), 999)
    assert passed == path.read_bytes() and probe.probed
    found = probe.metadata()
    assert found is not None and (found.width, found.height) == (176, 144)
    assert found.duration_s == pytest.approx(1.0, abs=0.05)


async def test_an_mp4_whose_moov_cannot_be_read_is_replayed_to_ffprobe(tmp_path: Path) -> None:
    path = _make(tmp_path, "h264 320x240 2s", faststart=True)
    content = path.read_bytes()
    # A `moov` this walker rejects (an unknown-duration `mvhd`) but ffprobe still reads.
    at = content.index(b"mvhd") + 4 + 4 + 8 + 4
    broken = content[:at] + b"\xff\xff\xff\xff" + content[at + 4 :]
    probe, passed = await _teed(broken, 4096)
    assert passed == broken and probe.probed
    found = probe.metadata()
    assert found is not None and (found.width, found.height) == (320, 240)
