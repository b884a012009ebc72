"""Which media format a stream's first bytes are, and whether that agrees with a declared type.

A small table of magic numbers rather than a library: `filetype` 1.2.0 (its last release, 2022)
misses MP3 frames with CRC (0xFFFA) and MPEG-2.5, cannot tell Opus from Vorbis in Ogg, and
accepts any Matroska as WebM; `puremagic` matches by confidence over a large table, which makes
a declared-vs-sniffed decision fuzzy. The formats we store are few and fixed, so each rule here
is exact and tested (tests/artifacts/test_sniff.py).

Each rule maps the first `SNIFF_BYTES` to the canonical types consistent with them; a declared
type is accepted when it is one of those (after aliases such as `audio/x-wav` -> `audio/wav`).
Some byte patterns fit more than one type: an MP4 file whose brand is not `M4A ` may be audio
or video, an Ogg Opus stream is both `audio/ogg` and `audio/opus`, WebM may be audio or video.
"""

from __future__ import annotations

from collections.abc import Callable

from artifacts.errors import ContentTypeMismatch, UnsupportedContentType

# Enough for every rule below: the longest is Ogg's first packet header at offset 28 + 8.
SNIFF_BYTES = 64

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-aac": "audio/aac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
}

# Raw audio has no header to sniff: accepted only when declared, never stored for an
# undeclared stream. `audio/pcm` is what OpenAI's speech endpoint calls its raw format
# (signed 16-bit little-endian samples); the producer documents rate and channels.
DECLARED_ONLY_TYPES: tuple[str, ...] = ("audio/pcm",)
_ALIASES["audio/l16"] = "audio/pcm"

SUPPORTED_CONTENT_TYPES: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "audio/wav",
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "audio/aac",
    "audio/mp4",
    "video/mp4",
    "audio/webm",
    "video/webm",
    *DECLARED_ONLY_TYPES,
)

# MP4 major brands that are not MP4 media: HEIF/AVIF still images and QuickTime movies.
_NOT_MP4_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
_NOT_MP4_BRANDS |= {b"qt  ", b"crx "}
_AUDIO_MP4_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})


def normalize(content_type: str) -> str:
    """`Audio/X-WAV; codecs=1` -> `audio/wav`: lower case, no parameters, aliases resolved."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio Layer III frame header: 11 sync bits, a real version and layer III, and a
    bitrate and sample rate index that are not the reserved values (which rules out text that
    happens to start with 0xFF)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11  # 0b01 is reserved
    layer = (head[1] >> 1) & 0b11  # 0b01 is Layer III
    bitrate = head[2] >> 4  # 0b1111 is invalid
    sample_rate = (head[2] >> 2) & 0b11  # 0b11 is reserved
    return version != 0b01 and layer == 0b01 and bitrate != 0b1111 and sample_rate != 0b11


def _adts(head: bytes) -> bool:
    """An AAC ADTS header: 12 sync bits and layer 00 (MP3 frames have layer 01, so the two never
    overlap), and a sampling frequency index below the reserved 13-15."""
    return len(head) >= 3 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0x0F < 13


def _ebml_doc_type(head: bytes) -> bytes | None:
    """The DocType string of an EBML (Matroska/WebM) header, if it lies within `head`."""
    at = head.find(b"\x42\x82", 4)
    if at < 0 or at + 3 > len(head):
        return None
    first = head[at + 2]
    width = 8 - first.bit_length() + 1  # a variable-length size: leading zeros give its width
    if first == 0 or at + 2 + width > len(head):
        return None
    size = first & (0xFF >> width)
    for byte in head[at + 3 : at + 2 + width]:
        size = (size << 8) | byte
    start = at + 2 + width
    return head[start : start + size]


def _ogg(head: bytes) -> tuple[str, ...]:
    # The first page's header is 27 bytes plus one lacing value: the first packet starts at 28.
    if head[28:36] == b"OpusHead":
        return ("audio/ogg", "audio/opus")
    return ("audio/ogg",)


def _mp4(head: bytes) -> tuple[str, ...]:
    brand = head[8:12]
    if brand in _NOT_MP4_BRANDS:
        return ()
    if brand in _AUDIO_MP4_BRANDS:
        return ("audio/mp4",)
    return ("video/mp4", "audio/mp4")


_Rule = tuple[Callable[[bytes], bool], Callable[[bytes], tuple[str, ...]]]


def _always(*types: str) -> Callable[[bytes], tuple[str, ...]]:
    return lambda _head: types


# Checked in order; the first rule whose test matches decides. The first type a rule gives is
# the canonical one, stored when nothing was declared.
_RULES: tuple[_Rule, ...] = (
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), _always("image/png")),
    (lambda h: h.startswith(b"\xff\xd8\xff"), _always("image/jpeg")),
    (lambda h: h.startswith(b"GIF87a") or h.startswith(b"GIF89a"), _always("image/gif")),
    (lambda h: h.startswith(b"RIFF") and h[8:12] == b"WEBP", _always("image/webp")),
    (lambda h: h.startswith(b"RIFF") and h[8:12] == b"WAVE", _always("audio/wav")),
    (lambda h: h.startswith(b"fLaC"), _always("audio/flac")),
    (lambda h: h.startswith(b"OggS"), _ogg),
    (lambda h: h[4:8] == b"ftyp", _mp4),
    (lambda h: h.startswith(b"\x1a\x45\xdf\xa3") and _ebml_doc_type(h) == b"webm", _always("video/webm", "audio/webm")),
    (lambda h: h.startswith(b"ID3") or _mp3_frame(h), _always("audio/mpeg")),
    (_adts, _always("audio/aac")),
)


def sniff(head: bytes) -> tuple[str, ...]:
    """The canonical types consistent with `head` (the stream's first `SNIFF_BYTES`, or all of
    it if shorter), most likely first; empty when it matches nothing we store."""
    for matches, types in _RULES:
        if matches(head):
            return types(head)
    return ()


def resolve_content_type(declared: str | None, head: bytes) -> str:
    """The type to store for a stream starting with `head`: the declared one (normalized) when
    the bytes agree with it, else what the bytes are when nothing was declared.

    Raises `UnsupportedContentType` for a declared type we cannot verify and
    `ContentTypeMismatch` when the bytes disagree or match nothing we know."""
    found = sniff(head)
    if declared is None:
        if not found:
            raise ContentTypeMismatch(None, None)
        return found[0]
    wanted = normalize(declared)
    if wanted not in SUPPORTED_CONTENT_TYPES:
        raise UnsupportedContentType(wanted, SUPPORTED_CONTENT_TYPES)
    if wanted in DECLARED_ONLY_TYPES:
        if not head or found:
            # Empty, or bytes that are a known format: not raw samples, so not what was declared.
            raise ContentTypeMismatch(wanted, found[0] if found else None)
        return wanted
    if wanted not in found:
        raise ContentTypeMismatch(wanted, found[0] if found else None)
    return wanted
