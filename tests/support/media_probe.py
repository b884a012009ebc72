"""What a media file really is, asked of ffprobe (never of the code that made it)."""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Probed:
    format_name: str
    codec: str
    duration: float | None
    width: int | None
    height: int | None
    sample_rate: int | None


def probe(data: bytes) -> Probed:
    """ffprobe ``data`` (fails the test's assertion path by raising if it does not decode)."""
    with tempfile.TemporaryDirectory(prefix="mpc-test-probe-") as tmp:
        path = Path(tmp) / "media"
        path.write_bytes(data)
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
            capture_output=True,
            check=True,
            timeout=30,
        )
        # Decoding every frame proves the file is not just a plausible header.
        subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"], check=True, timeout=60)
    info = json.loads(out.stdout)
    stream = info["streams"][0]
    duration = info["format"].get("duration") or stream.get("duration")
    return Probed(
        format_name=info["format"]["format_name"],
        codec=stream["codec_name"],
        duration=float(duration) if duration is not None else None,
        width=stream.get("width"),
        height=stream.get("height"),
        sample_rate=int(stream["sample_rate"]) if "sample_rate" in stream else None,
    )


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))
