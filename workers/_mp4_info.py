"""An MP4's duration and video size, read from its `moov` box as the bytes go past.

Asking ffprobe costs ~57 ms of CPU per video (a process); the answer is a few fields of the
`moov` box, which a walk over the top-level boxes finds wherever the muxer put it (before
`mdat` when "fast-start", after it otherwise):

- `mvhd`: timescale and duration (version 0: 32-bit, version 1: 64-bit), the movie's length.
- the video track (`hdlr` type `vide`): its `stsd` sample entry's width and height (`avc1`,
  `hvc1`, ... all start with the VisualSampleEntry layout), which are the coded size
  ffprobe reports; `tkhd`'s 16.16 width and height when the entry has none.

Only `moov` is held in memory (capped); every other box, `mdat` above all, is skipped as it
streams, whatever the chunking, and 64-bit `largesize` headers are read. pymp4 parses whole
files with construct, not a stream, hence this walker. A walker that meets something it cannot
read says so (`failed`); the caller then measures otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

MOOV_CAP = 16 * 1024 * 1024
_HEADER = 8
_LARGE_HEADER = 16
_TO_END = -1
# Boxes an ISO BMFF file may open with; anything else is not an MP4 and gives up at once.
_FIRST_BOXES = (b"ftyp", b"styp", b"free", b"skip", b"wide", b"moov", b"mdat")
_UNKNOWN_32 = 0xFFFFFFFF
_UNKNOWN_64 = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class Mp4Info:
    duration_s: float
    width: int
    height: int


class Mp4Walker:
    """Bytes in with `feed`, in order and in any chunking; `info` once `moov` was read."""

    def __init__(self, moov_cap: int = MOOV_CAP) -> None:
        self._cap = moov_cap
        self._head = bytearray()  # a box header not yet complete
        self._moov: bytearray | None = None  # the `moov` body being collected
        self._moov_left = 0
        self._skip = 0  # bytes of the current (unneeded) box still to pass, or _TO_END
        self._boxes = 0
        self.info: Mp4Info | None = None
        self.failed = False
        self.past_head = False  # an `mdat` has begun: what came before is all that is small

    @property
    def finished(self) -> bool:
        return self.failed or self.info is not None

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end and not self.finished:
            if self._skip == _TO_END:
                return
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
            elif self._moov is not None:
                step = min(self._moov_left, end - pos)
                self._moov += view[pos : pos + step]
                self._moov_left -= step
                pos += step
                if not self._moov_left:
                    self._read_moov(self._moov)
            else:
                pos += self._read_header(view[pos:])

    def _read_header(self, data: memoryview) -> int:
        """Takes header bytes from `data` (how many it took); starts the box once it has them."""
        head = self._head
        taken = 0
        while True:
            large = len(head) >= _HEADER and head[:4] == b"\x00\x00\x00\x01"
            need = _LARGE_HEADER if large else _HEADER
            if len(head) >= need:
                break
            step = min(need - len(head), len(data) - taken)
            if not step:
                return taken
            head += data[taken : taken + step]
            taken += step
        size, kind = struct.unpack_from(">I4s", head)
        if size == 1:
            (size,) = struct.unpack_from(">Q", head, _HEADER)
        self._head = bytearray()
        self._start(kind, size, len(head))
        return taken

    def _start(self, kind: bytes, size: int, header: int) -> None:
        self._boxes += 1
        if self._boxes == 1 and kind not in _FIRST_BOXES:
            self.failed = True
            return
        if size == 0:  # the box runs to the end of the file
            if kind == b"moov":
                self.failed = True
            self._skip = _TO_END
            self.past_head = self.past_head or kind == b"mdat"
            return
        if size < header:
            self.failed = True
            return
        body = size - header
        if kind == b"moov":
            if body > self._cap:
                self.failed = True
                return
            self._moov, self._moov_left = bytearray(), body
            if not body:
                self._read_moov(self._moov)
            return
        self.past_head = self.past_head or kind == b"mdat"
        self._skip = body

    def _read_moov(self, moov: bytearray) -> None:
        self._moov = None
        try:
            self.info = _movie_info(bytes(moov))
        except (ValueError, struct.error):
            self.info = None
        self.failed = self.info is None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in data[start:end]."""
    pos = start
    while end - pos >= _HEADER:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = _HEADER
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + _HEADER)
            header = _LARGE_HEADER
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} overruns its parent")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, stop in _boxes(data, start, end):
        if found == kind:
            return body, stop
    return None


def _movie_info(moov: bytes) -> Mp4Info | None:
    duration: float | None = None
    size: tuple[int, int] | None = None
    for kind, body, end in _boxes(moov, 0, len(moov)):
        if kind == b"mvhd":
            duration = _mvhd_seconds(moov, body)
        elif kind == b"trak" and size is None:
            size = _video_size(moov, body, end)
    if duration is None or size is None:
        return None
    return Mp4Info(duration_s=round(duration, 3), width=size[0], height=size[1])


def _mvhd_seconds(moov: bytes, body: int) -> float | None:
    if moov[body] == 1:
        timescale, duration = struct.unpack_from(">IQ", moov, body + 4 + 16)
        unknown = duration == _UNKNOWN_64
    else:
        timescale, duration = struct.unpack_from(">II", moov, body + 4 + 8)
        unknown = duration == _UNKNOWN_32
    # A fragmented MP4 leaves the movie's duration 0 (its length is in the fragments).
    if not timescale or not duration or unknown:
        return None
    return float(duration / timescale)


def _video_size(moov: bytes, start: int, end: int) -> tuple[int, int] | None:
    mdia = _child(moov, start, end, b"mdia")
    if mdia is None:
        return None
    hdlr = _child(moov, *mdia, b"hdlr")
    if hdlr is None or moov[hdlr[0] + 8 : hdlr[0] + 12] != b"vide":
        return None
    size = _sample_entry_size(moov, *mdia)
    if size is None:
        tkhd = _child(moov, start, end, b"tkhd")
        size = _tkhd_size(moov, tkhd[0]) if tkhd is not None else None
    return size


def _sample_entry_size(moov: bytes, start: int, end: int) -> tuple[int, int] | None:
    stsd = None
    found = _child(moov, start, end, b"minf")
    if found is not None:
        found = _child(moov, *found, b"stbl")
    if found is not None:
        stsd = _child(moov, *found, b"stsd")
    if stsd is None:
        return None
    # stsd: version/flags, entry count, then entries; the VisualSampleEntry's width and height
    # follow its box header (8), reserved and data reference index (8), and 16 bytes of zeros.
    for _, entry, stop in _boxes(moov, stsd[0] + 8, stsd[1]):
        if stop - entry >= 28:
            width, height = struct.unpack_from(">HH", moov, entry + 24)
            if width and height:
                return width, height
        break
    return None


def _tkhd_size(moov: bytes, body: int) -> tuple[int, int] | None:
    # After version/flags: times, track id, reserved, duration (20 bytes, or 32 in version 1),
    # reserved (8), layer, group, volume, reserved (8), the matrix (36): then 16.16 width, height.
    at = body + 4 + (32 if moov[body] == 1 else 20) + 8 + 8 + 36
    width, height = struct.unpack_from(">II", moov, at)
    return (width >> 16, height >> 16) if width >> 16 and height >> 16 else None
