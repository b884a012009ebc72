"""An encoded audio stream's duration, read from its headers as the bytes go past.

Measuring a speech's length by decoding it costs ~70 ms of CPU per call (an ffmpeg
process) and ends after the job's last byte; the formats providers answer carry their
length in their framing instead, so a walk over the headers gives it, exactly, in
microseconds and with at most one frame header held in memory:

- MP3: every frame header (version, layer, bitrate, sample rate, padding) gives the
  frame's length and samples, so the sum is exact for CBR and VBR; an ID3v2 tag is
  skipped, a Xing/Info frame is not audio, and LAME's encoder delay and padding are taken
  off as decoders do.
- WAV: `fmt `'s rate, channels and sample size, and the bytes after the `data` chunk's
  header (its size field is not trusted: streamed WAVs carry a placeholder there).
- ADTS AAC: 1,024 samples per raw data block, frame after frame.
- Ogg (Opus, Vorbis): the last page's granule position (less Opus's pre-skip).
- FLAC: STREAMINFO's total samples, when the encoder filled it in (one writing to a pipe
  cannot: then it is not measurable here).

A meter that meets something it cannot read says so (`measurable` turns false) and its
`seconds` is None; at the stream's head that is the caller's cue to measure otherwise.
Tools reading a whole file (tinytag) need it seekable and estimate CBR MP3 from its size;
mutagen is GPL; hence these walkers.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod

_ID3_HEADER = 10


class DurationMeter(ABC):
    """Bytes in with `feed`, in order and in any chunking; the length so far in `seconds`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip = 0  # bytes of the current unit (frame, page, chunk) not yet arrived
        self.measurable = True

    def feed(self, data: bytes) -> None:
        if not self.measurable:
            return
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data = data[self._skip :]
            self._skip = 0
        buf = self._buf
        buf += data
        pos = 0
        while self.measurable:
            used = self._step(buf, pos)
            if not used:
                break
            if pos + used >= len(buf):
                self._skip = pos + used - len(buf)
                pos = len(buf)
                break
            pos += used
        del buf[:pos]

    @property
    def seconds(self) -> float | None:
        return round(self._seconds(), 3) if self.measurable else None

    @abstractmethod
    def _step(self, buf: bytearray, pos: int) -> int:
        """The length of the unit starting at `buf[pos]` once counted, 0 to wait for more bytes
        (or, having set `measurable` false, to give up)."""

    @abstractmethod
    def _seconds(self) -> float: ...

    def _give_up(self) -> int:
        self.measurable = False
        return 0


def _id3v2_length(buf: bytearray, pos: int) -> int:
    """The whole tag's length (header, syncsafe size, footer), or 0 without one at `pos`."""
    if buf[pos : pos + 3] != b"ID3" or len(buf) - pos < _ID3_HEADER:
        return 0
    size = 0
    for byte in buf[pos + 6 : pos + 10]:
        size = (size << 7) | (byte & 0x7F)
    footer = _ID3_HEADER if buf[pos + 5] & 0x10 else 0
    return _ID3_HEADER + size + footer


# MP3 bitrates in kbit/s by [MPEG-1?][layer 1, 2, 3][index]; index 0 is "free format", 15 invalid.
_MP3_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by version bits (0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1) and index.
_MP3_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_MP3_HEADER = 4
# Enough of the first frame to find a Xing/Info tag and LAME's delay and padding in it.
_MP3_FIRST_FRAME = 200
# Encoders whose Xing/Info frame carries the LAME extension (delay, padding): the ones ffmpeg reads it from.
_LAME_ENCODERS = (b"LAME", b"Lavc", b"Lavf")


class Mp3Duration(DurationMeter):
    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._rate = 0
        self._trim = 0  # LAME's encoder delay + padding, not played by decoders
        self._frames = 0

    def _step(self, buf: bytearray, pos: int) -> int:
        if len(buf) - pos < _MP3_HEADER:
            return 0
        if self._frames == 0 and buf[pos : pos + 3] == b"ID3":
            return _id3v2_length(buf, pos)
        frame = _mp3_frame(buf[pos : pos + _MP3_HEADER])
        if frame is None:
            # Not a frame: the tail (an ID3v1 or APE tag) or garbage. Resync on the next header,
            # so what follows is still counted if it is audio.
            nxt = buf.find(b"\xff", pos + 1)
            return (nxt if nxt >= 0 else len(buf)) - pos
        length, samples, rate = frame
        if self._rate and rate != self._rate:
            # Frames of one stream share a sample rate; a header that does not is a false sync
            # (bytes of a tail tag), as decoders take it.
            return 1
        if self._frames == 0:
            if len(buf) - pos < min(length, _MP3_FIRST_FRAME):
                return 0
            self._frames = 1
            if self._lame_info(bytes(buf[pos : pos + min(length, _MP3_FIRST_FRAME)])):
                return length  # the Xing/Info frame is silence written for seeking, not audio
        self._frames += 1
        self._samples += samples
        self._rate = rate
        return length

    def _lame_info(self, frame: bytes) -> bool:
        for tag in (b"Xing", b"Info"):
            at = frame.find(tag, _MP3_HEADER, 40)
            if at < 0:
                continue
            flags = int.from_bytes(frame[at + 4 : at + 8], "big")
            # frames, bytes, TOC, quality: each present when its flag is set
            lame = at + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
            if frame[lame : lame + 4] in _LAME_ENCODERS and len(frame) >= lame + 24:
                packed = int.from_bytes(frame[lame + 21 : lame + 24], "big")
                # What ffmpeg's decoder leaves out: the encoder's delay and its padding at the end.
                self._trim = (packed >> 12) + (packed & 0xFFF)
            return True
        return False

    def _seconds(self) -> float:
        return max(self._samples - self._trim, 0) / self._rate if self._rate else 0.0


def _mp3_frame(header: bytearray) -> tuple[int, int, int] | None:
    """(frame bytes, samples, sample rate) of a valid MPEG audio frame header, else None."""
    b1, b2, b3 = header[1], header[2], header[3]
    if header[0] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3 or b3 & 3 == 2:
        return None
    mpeg1, layer = version == 3, 4 - layer_bits
    bitrate = _MP3_BITRATES[mpeg1, layer][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, rate
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding, 576, rate
    return 144 * bitrate // rate + padding, 1152, rate


class WavDuration(DurationMeter):
    def __init__(self) -> None:
        super().__init__()
        self._bytes_per_second = 0
        self._data: int | None = None  # bytes since the `data` chunk's header
        self._riff = False

    def feed(self, data: bytes) -> None:
        if self._data is not None:
            self._data += len(data)  # the samples run to the end: nothing more to parse
        else:
            super().feed(data)

    def _step(self, buf: bytearray, pos: int) -> int:
        if not self._riff:
            if len(buf) < 12:
                return 0
            self._riff = bytes(buf[:4]) in (b"RIFF", b"RF64") and buf[8:12] == b"WAVE"
            return 12 if self._riff else self._give_up()
        if len(buf) - pos < 8:
            return 0
        kind, size = bytes(buf[pos : pos + 4]), int.from_bytes(buf[pos + 4 : pos + 8], "little")
        if kind == b"data":
            if not self._bytes_per_second:
                return self._give_up()
            self._data = len(buf) - pos - 8
            return len(buf) - pos
        if kind == b"fmt ":
            if len(buf) - pos < 24:
                return 0
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", buf, pos + 8)
            self._bytes_per_second = rate * channels * (bits // 8)
            if not self._bytes_per_second:
                return self._give_up()
        return 8 + size + (size & 1)  # chunks are word-aligned

    def _seconds(self) -> float:
        return (self._data or 0) / self._bytes_per_second if self._bytes_per_second else 0.0


class PcmDuration(DurationMeter):
    """Raw samples of a known layout (OpenAI's `pcm`: s16le, mono, 24 kHz by default)."""

    def __init__(self, bytes_per_second: int = 48_000) -> None:
        super().__init__()
        self._bytes_per_second = bytes_per_second
        self._bytes = 0

    def feed(self, data: bytes) -> None:
        self._bytes += len(data)

    def _step(self, buf: bytearray, pos: int) -> int:
        return 0

    def _seconds(self) -> float:
        return self._bytes / self._bytes_per_second


_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_ADTS_HEADER = 7


class AdtsDuration(DurationMeter):
    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._rate = 0

    def _step(self, buf: bytearray, pos: int) -> int:
        if len(buf) - pos < _ADTS_HEADER:
            return 0
        if not self._rate and buf[pos : pos + 3] == b"ID3":
            return _id3v2_length(buf, pos)
        if buf[pos] != 0xFF or buf[pos + 1] & 0xF6 != 0xF0:
            return self._give_up() if not self._rate else len(buf) - pos  # a tail after the frames
        rate_index = (buf[pos + 2] >> 2) & 0xF
        length = ((buf[pos + 3] & 3) << 11) | (buf[pos + 4] << 3) | (buf[pos + 5] >> 5)
        if rate_index >= len(_ADTS_RATES) or length < _ADTS_HEADER:
            return self._give_up()
        self._rate = _ADTS_RATES[rate_index]
        self._samples += 1024 * ((buf[pos + 6] & 3) + 1)
        return length

    def _seconds(self) -> float:
        return self._samples / self._rate if self._rate else 0.0


_OGG_HEADER = 27
_OPUS_RATE = 48_000


class OggDuration(DurationMeter):
    """Opus or Vorbis in Ogg: the granule position of the last page with one, of the first stream."""

    def __init__(self) -> None:
        super().__init__()
        self._serial: int | None = None
        self._rate = 0
        self._pre_skip = 0
        self._granule = 0

    def _step(self, buf: bytearray, pos: int) -> int:
        if len(buf) - pos < _OGG_HEADER:
            return 0
        if buf[pos : pos + 4] != b"OggS":
            return self._give_up()
        segments = buf[pos + 26]
        body_at = pos + _OGG_HEADER + segments
        if len(buf) < body_at:
            return 0
        granule, serial = struct.unpack_from("<qI", buf, pos + 6)
        if self._serial is None:
            if len(buf) < body_at + 19:
                return 0
            self._serial = serial
            self._codec_head(bytes(buf[body_at : body_at + 19]))
        elif serial == self._serial and granule != -1:
            self._granule = granule
        return body_at - pos + sum(buf[pos + _OGG_HEADER : body_at])

    def _codec_head(self, packet: bytes) -> None:
        if packet.startswith(b"OpusHead"):
            self._rate = _OPUS_RATE  # Opus's granules count 48 kHz samples, whatever the input rate
            self._pre_skip = int.from_bytes(packet[10:12], "little")
        elif packet.startswith(b"\x01vorbis"):
            self._rate = int.from_bytes(packet[12:16], "little")
        if not self._rate:
            self._give_up()

    def _seconds(self) -> float:
        return max(self._granule - self._pre_skip, 0) / self._rate if self._rate else 0.0


_FLAC_HEAD = 42  # "fLaC", a metadata block header, STREAMINFO


class FlacDuration(DurationMeter):
    def __init__(self) -> None:
        super().__init__()
        self._total = 0
        self._rate = 0

    def _step(self, buf: bytearray, pos: int) -> int:
        if self._rate:
            return len(buf) - pos  # the frames: nothing more to read
        if len(buf) < _FLAC_HEAD:
            return 0
        if buf[:4] != b"fLaC" or buf[4] & 0x7F != 0:
            return self._give_up()
        packed = int.from_bytes(buf[18:26], "big")  # rate 20 bits, channels 3, bits 5, samples 36
        self._rate, self._total = packed >> 44, packed & ((1 << 36) - 1)
        if not self._rate or not self._total:
            return self._give_up()  # written to a pipe: the encoder could not go back to fill it in
        return len(buf)

    def _seconds(self) -> float:
        return self._total / self._rate if self._rate else 0.0


_METERS: dict[str, type[DurationMeter]] = {
    "mp3": Mp3Duration,
    "wav": WavDuration,
    "pcm": PcmDuration,
    "aac": AdtsDuration,
    "opus": OggDuration,
    "flac": FlacDuration,
}


def meter_for(fmt: str) -> DurationMeter | None:
    """A header meter for a speech format (`mp3`, `wav`, `pcm`, `aac`, `opus`, `flac`), or None."""
    meter = _METERS.get(fmt)
    return meter() if meter is not None else None
