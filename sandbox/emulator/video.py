"""Real MP4 videos for the emulator's video wires.

With ffmpeg: H.264 in an MP4 (``ftyp`` first, ``moov`` up front) of exactly the asked
duration and size, a background in the prompt's colour with a box in a second colour
crossing it, and the prompt in the container's ``comment`` tag, so a test can tell which
request a file answers. The same prompt, duration and size always give the same bytes.
Without ffmpeg: ``fallback.mp4``, a 2 s 320x180 H.264 clip the project generated once and
ships in this package (its duration and size are then not the asked ones).
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path

from sandbox.emulator.media import MediaError, _Cache, _digest, _run

CONTENT_TYPE = "video/mp4"
# Low (the emulator encodes on demand) and a divisor of 0.1 s, so every duration a wire can
# ask for (HeyGen's are tenths of seconds) is a whole number of frames.
FRAME_RATE = 10
MAX_SIDE = 7680
MAX_SECONDS = 120.0
FALLBACK_NAME = "fallback.mp4"
FALLBACK_SECONDS = 2.0
FALLBACK_SIZE = (320, 180)
_CACHE = _Cache(entries=32, max_item_bytes=8 * 1024 * 1024)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def fallback_mp4() -> bytes:
    return resources.files("sandbox.emulator").joinpath(FALLBACK_NAME).read_bytes()


def even(value: float) -> int:
    """H.264 in 4:2:0 needs even sides."""
    return max(2, round(value / 2) * 2)


def prompt_colours(prompt: str) -> tuple[str, str]:
    digest = _digest("video", prompt)
    return digest[:3].hex(), digest[3:6].hex()


async def video(prompt: str, seconds: float, width: int, height: int) -> bytes:
    """``render``, remembered for the next identical request (1,000 jobs of one benchmark
    prompt cost one encode)."""
    key = ("video", prompt, seconds, width, height)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE.put(key, await render(prompt, seconds, width, height))
    return cached


async def render(prompt: str, seconds: float, width: int, height: int) -> bytes:
    if not (0 < seconds <= MAX_SECONDS):
        raise MediaError(f"video duration {seconds} is outside (0, {MAX_SECONDS:g}] seconds")
    if not (2 <= width <= MAX_SIDE and 2 <= height <= MAX_SIDE) or width % 2 or height % 2:
        raise MediaError(f"video size {width}x{height} needs even sides of 2..{MAX_SIDE}")
    if not ffmpeg_available():
        return fallback_mp4()
    back, box = prompt_colours(prompt)
    side = max(2, min(width, height) // 4)
    source = (
        f"color=c=0x{back}:s={width}x{height}:r={FRAME_RATE}:d={seconds:g},"
        f"drawbox=x='mod(t*{width}/{seconds:g},{width})':y={(height - side) // 2}:w={side}:h={side}"
        f":color=0x{box}:t=fill"
    )
    # The mp4 muxer seeks back to write the index: it needs a file, not a pipe.
    with tempfile.TemporaryDirectory(prefix="mpc-emulator-video-") as tmp:
        out = Path(tmp) / "video.mp4"
        await _run(
            "ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", source,
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1",
            "-movflags", "+faststart", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-metadata", f"comment={prompt}", "-f", "mp4", str(out),
        )  # fmt: skip
        return out.read_bytes()


def has_ftyp(data: bytes) -> bool:
    return len(data) >= 12 and data[4:8] == b"ftyp"
