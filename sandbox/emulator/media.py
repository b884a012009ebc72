"""Real, checkable media for the emulator's media wires: speech, transcripts and images.

Speech is espeak-ng (a tone whose length grows with the text where espeak-ng is missing),
made 16-bit mono PCM at the asked rate and encoded by ffmpeg. The spoken text travels with
the audio twice, so the emulator's transcription wires can give it back (TTS -> STT round
trips return the same words):

- as a ``comment`` tag (ID3 for mp3 and ADTS, Vorbis comment for Ogg/FLAC, LIST/INFO for WAV);
- as a watermark in the samples' lowest bits, which survives where no tag can: raw PCM, and
  the WAV LiteLLM builds itself from Gemini's PCM. Lossy codecs destroy it; their tag stays.

Audio carrying neither transcribes to a sentence naming its duration. Images are two-colour
pictures of exactly the asked size, their colours taken from a hash of the prompt.
Everything runs in subprocesses (``asyncio``), so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import shutil
import struct
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

AudioFormat = Literal["mp3", "wav", "opus", "aac", "flac", "pcm"]
ImageFormat = Literal["png", "jpeg", "webp"]

PCM_RATE = 24_000
AUDIO_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}
IMAGE_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_IMAGE_SIDE = 4096
TEXT_TAG = "comment"
_ENCODERS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    "opus": ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-b:a", "64k", "-f", "adts", "-write_id3v2", "1"],
    "flac": ["-c:a", "flac", "-f", "flac"],
}
# RGB source and 4:4:4 / lossless encoders: 4:2:0 chroma would round odd sizes down to even.
_IMAGE_ENCODERS: dict[str, list[str]] = {
    "png": ["-c:v", "png", "-f", "image2"],
    "jpeg": ["-c:v", "mjpeg", "-pix_fmt", "yuvj444p", "-q:v", "3", "-f", "image2"],
    "webp": ["-c:v", "libwebp", "-lossless", "1", "-f", "webp"],
}
# Watermark: magic, then the UTF-8 length (32 bits), then the text, one bit per sample.
_MARK = b"MPCT"
_ESPEAK_WPM = 175
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


class _Cache:
    """The last few results by their inputs (they are deterministic): a benchmark sending the
    same speech or image many times measures the gateway, not espeak-ng and ffmpeg."""

    def __init__(self, entries: int, max_item_bytes: int) -> None:
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._entries = entries
        self._max_item_bytes = max_item_bytes

    def get(self, key: tuple[object, ...]) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[object, ...], value: bytes) -> bytes:
        if len(value) <= self._max_item_bytes:
            self._items[key] = value
            while len(self._items) > self._entries:
                self._items.popitem(last=False)
        return value


_CACHE = _Cache(entries=128, max_item_bytes=2 * 1024 * 1024)


class MediaError(Exception):
    """Input the media tools cannot use (undecodable audio, impossible size): a provider 400."""


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    duration: float
    #: True when the text came from the audio itself (tag or watermark), not the fallback
    embedded: bool

    def segments(self) -> list[Segment]:
        """Sentences, timed in proportion to their length."""
        return [Segment(s.text, s.start, s.end) for s in _spread(_SENTENCE_RE.split(self.text), self.duration)]

    def words(self) -> list[Word]:
        return [Word(w.text, w.start, w.end) for w in _spread(self.text.split(), self.duration)]


def _spread(pieces: list[str], duration: float) -> list[Segment]:
    pieces = [p for p in (p.strip() for p in pieces) if p]
    total = sum(len(p) for p in pieces) or 1
    out: list[Segment] = []
    at = 0.0
    for piece in pieces:
        end = at + duration * len(piece) / total
        out.append(Segment(piece, round(at, 3), round(end, 3)))
        at = end
    return out


async def _run(*args: str, stdin: bytes | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if process.returncode != 0:
        raise MediaError(f"{Path(args[0]).name} failed: {err.decode(errors='replace').strip()[-300:]}")
    return out


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()


# -- speech -------------------------------------------------------------------------------
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


async def speech_pcm(text: str, *, voice: str = "", speed: float = 1.0, rate: int = PCM_RATE) -> bytes:
    """16-bit little-endian mono PCM at ``rate`` saying ``text``, watermarked with it."""
    speed = min(4.0, max(0.25, speed))
    if espeak_available():
        # The voice picks a pitch, so different voices sound different and each stays stable.
        pitch = _digest("voice", voice)[0] * 99 // 255
        wav = await _run(
            "espeak-ng", "--stdout", "-v", "en", "-s", str(round(_ESPEAK_WPM * speed)), "-p", str(pitch),
            stdin=text.encode(),
        )  # fmt: skip
        pcm = await _run("ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(rate),
                         "pipe:1", stdin=wav)  # fmt: skip
    else:
        pcm = _tone(text, rate=rate, speed=speed)
    return watermark(pcm, text)


def _tone(text: str, *, rate: int, speed: float) -> bytes:
    seconds = (0.3 + 0.06 * len(text)) / speed
    frequency = 220 + _digest("tone", text)[0]
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count)))


async def encode_pcm(pcm: bytes, fmt: AudioFormat, *, rate: int = PCM_RATE, text: str = "") -> bytes:
    """PCM (s16le mono) as ``fmt``, with ``text`` in the container's ``comment`` tag."""
    if fmt == "pcm":
        return pcm
    with tempfile.TemporaryDirectory(prefix="mpc-emulator-") as tmp:
        # A file, not a pipe: FLAC and WAV write their length into the header at the end.
        # bitexact: no random Ogg serial number, so the same text gives the same bytes.
        out = Path(tmp) / f"speech.{fmt}"
        await _run(
            "ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
            "-metadata", f"{TEXT_TAG}={text}", "-fflags", "+bitexact", *_ENCODERS[fmt], str(out),
            stdin=pcm,
        )  # fmt: skip
        return out.read_bytes()


async def speech(text: str, fmt: AudioFormat, *, voice: str = "", speed: float = 1.0, rate: int = PCM_RATE) -> bytes:
    key = ("speech", text, fmt, voice, speed, rate, espeak_available())
    cached = _CACHE.get(key)
    if cached is None:
        pcm = await speech_pcm(text, voice=voice, speed=speed, rate=rate)
        cached = _CACHE.put(key, await encode_pcm(pcm, fmt, rate=rate, text=text))
    return cached


def watermark(pcm: bytes, text: str) -> bytes:
    payload = _MARK + struct.pack(">I", len(text.encode())) + text.encode()
    bits = [(byte >> (7 - i)) & 1 for byte in payload for i in range(8)]
    count = len(pcm) // 2
    if len(bits) > count:
        return pcm  # too short to carry it; the container tag still may
    samples = list(struct.unpack_from(f"<{len(bits)}h", pcm))
    marked = [(s & ~1) | b for s, b in zip(samples, bits, strict=True)]
    return struct.pack(f"<{len(bits)}h", *marked) + pcm[2 * len(bits) :]


def read_watermark(pcm: bytes) -> str | None:
    def read_bytes(start_bit: int, n: int) -> bytes | None:
        end = start_bit + 8 * n
        if 2 * end > len(pcm):
            return None
        samples = struct.unpack_from(f"<{8 * n}h", pcm, 2 * start_bit)
        return bytes(sum((samples[8 * i + j] & 1) << (7 - j) for j in range(8)) for i in range(n))

    head = read_bytes(0, len(_MARK) + 4)
    if head is None or head[: len(_MARK)] != _MARK:
        return None
    (length,) = struct.unpack(">I", head[len(_MARK) :])
    body = read_bytes(8 * len(head), length)
    if body is None:
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


# -- transcription ------------------------------------------------------------------------
def fallback_text(duration: float) -> str:
    return f"This is an emulated transcript of {duration:.1f} seconds of audio."


async def transcribe(audio: bytes) -> Transcript:
    """The text embedded in ``audio`` (tag, else watermark), else ``fallback_text``.
    Raises ``MediaError`` when ffprobe cannot read it as audio."""
    with tempfile.TemporaryDirectory(prefix="mpc-emulator-") as tmp:
        path = Path(tmp) / "audio"
        path.write_bytes(audio)
        try:
            probe = json.loads(
                await _run("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path))
            )
        except MediaError as exc:
            raise MediaError("the file could not be decoded as audio") from exc
        streams = [s for s in probe.get("streams", []) if s.get("codec_type") == "audio"]
        if not streams:
            raise MediaError("the file has no audio stream")
        tags = {**(streams[0].get("tags") or {}), **(probe.get("format", {}).get("tags") or {})}
        text = next((v for k, v in tags.items() if k.lower() == TEXT_TAG and isinstance(v, str)), None)
        if text is None and streams[0].get("channels") == 1 and streams[0].get("codec_name", "").startswith("pcm_s16"):
            pcm = await _run("ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "pipe:1")
            text = read_watermark(pcm)
        duration = await _duration(path, probe)
    if text is not None:
        return Transcript(text=text, duration=duration, embedded=True)
    return Transcript(text=fallback_text(duration), duration=duration, embedded=False)


async def _duration(path: Path, probe: dict[str, object]) -> float:
    info = probe.get("format")
    raw = info.get("duration") if isinstance(info, dict) else None
    if isinstance(raw, str | int | float):
        try:
            return round(float(raw), 3)
        except ValueError:
            pass
    # Some streams (e.g. FLAC or WAV written to a pipe) do not say; decode and count.
    pcm = await _run("ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1")
    return round(len(pcm) / 2 / 8000, 3)


async def audio_duration(audio: bytes) -> float:
    return (await transcribe(audio)).duration


# -- images -------------------------------------------------------------------------------
def prompt_colours(prompt: str) -> tuple[str, str]:
    digest = _digest("image", prompt)
    return digest[:3].hex(), digest[3:6].hex()


async def image(prompt: str, width: int, height: int, fmt: ImageFormat = "png") -> bytes:
    """``render_image``, remembered for the next identical request."""
    key = ("image", prompt, width, height, fmt)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE.put(key, await render_image(prompt, width, height, fmt))
    return cached


async def render_image(prompt: str, width: int, height: int, fmt: ImageFormat = "png") -> bytes:
    """A ``width`` x ``height`` picture: the prompt's colour, its top-left quarter a second one."""
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise MediaError(f"image size {width}x{height} is outside 1..{MAX_IMAGE_SIDE}")
    back, box = prompt_colours(prompt)
    return await _run(
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x{back}:s={width}x{height}:d=1,format=rgb24",
        "-vf", f"drawbox=x=0:y=0:w=iw/2:h=ih/2:color=0x{box}:t=fill",
        "-frames:v", "1", *_IMAGE_ENCODERS[fmt], "pipe:1",
    )  # fmt: skip


def parse_size(value: object, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """``"1024x768"`` -> (1024, 768); ``None``/``"auto"`` -> ``default``; else ``MediaError``."""
    if value is None or value == "auto":
        return default
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", str(value))
    if match is None:
        raise MediaError(f"invalid size {value!r}: expected WIDTHxHEIGHT")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise MediaError(f"invalid size {value!r}: each side must be 1..{MAX_IMAGE_SIDE}")
    return width, height
