"""How much text one speech call may take, per model, and splitting longer text at sentences.

Limits are per request, from each provider's documentation (checked 2026-12-04):
- OpenAI `/audio/speech`: `input` "The maximum length is 4096 characters" (API reference,
  createSpeech).
- ElevenLabs: eleven_v3 5,000 characters (elevenlabs.io/docs/models); eleven_multilingual_v2
  10,000 and eleven_flash_v2_5 40,000 characters (help.elevenlabs.io, "What's the maximum
  amount of characters and text I can generate?").
- Gemini TTS: 4,000 bytes of text per request (documented for gemini-3.1-flash-tts; no
  figure is published for the 3.8 models, so the same is assumed). Counted in UTF-8 bytes.
- Groq (Orpheus) and Runway (eleven_multilingual_v2 through Runway's API): no per-request
  figure found in their documentation; 1,000 characters is assumed, small enough to be safe
  (a smaller piece only means more calls).
Unknown models get OpenAI's 4,096.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class TextLimit:
    size: int
    unit: str = "chars"  # or "bytes" (UTF-8)

    def measure(self, text: str) -> int:
        return len(text.encode()) if self.unit == "bytes" else len(text)


# (provider, model name prefix or "") -> limit; the longest matching prefix wins.
_LIMITS: dict[tuple[str, str], TextLimit] = {
    ("openai", ""): TextLimit(4096),
    ("elevenlabs", "elevenlabs/eleven_v3"): TextLimit(5000),
    ("elevenlabs", "elevenlabs/eleven_multilingual_v2"): TextLimit(10_000),
    ("elevenlabs", "elevenlabs/eleven_flash_v2_5"): TextLimit(40_000),
    ("elevenlabs", ""): TextLimit(5000),
    ("gemini", ""): TextLimit(4000, "bytes"),
    ("groq", ""): TextLimit(1000),
    ("runwayml", ""): TextLimit(1000),
}


def text_limit(provider: str, model_id: str) -> TextLimit:
    best: tuple[int, TextLimit] | None = None
    for (name, prefix), limit in _LIMITS.items():
        if name == provider and model_id.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), limit)
    return best[1] if best else TextLimit(DEFAULT_LIMIT)


# A sentence ends at . ! ? … (or their CJK full-width forms) and any closing quotes or
# brackets, before white space.
_SENTENCE_END = re.compile("(?<=[.!?\u2026\u3002\uff01\uff1f])[\"'\u201d\u2019)\\]]*\\s+")
_WORD_GAP = re.compile(r"\s+")


def split_text(text: str, limit: TextLimit) -> list[str]:
    """`text` in pieces each within `limit`, cut between sentences where possible, else
    between words, else (one endless word) anywhere. Pieces keep the text's order."""
    text = text.strip()
    if limit.measure(text) <= limit.size:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _parts(text, _SENTENCE_END):
        for part in _fitting(sentence, limit):
            candidate = f"{current} {part}" if current else part
            if limit.measure(candidate) <= limit.size:
                current = candidate
            else:
                if current:
                    pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _parts(text: str, separator: re.Pattern[str]) -> list[str]:
    return [p.strip() for p in separator.split(text) if p.strip()]


def _fitting(sentence: str, limit: TextLimit) -> list[str]:
    """A sentence longer than the limit, cut between words (or, failing that, anywhere)."""
    if limit.measure(sentence) <= limit.size:
        return [sentence]
    out: list[str] = []
    current = ""
    for word in _parts(sentence, _WORD_GAP):
        for chunk in _hard_cut(word, limit.size, limit.measure):
            candidate = f"{current} {chunk}" if current else chunk
            if limit.measure(candidate) <= limit.size:
                current = candidate
            else:
                out.append(current)
                current = chunk
    if current:
        out.append(current)
    return out


def _hard_cut(word: str, size: int, measure: Callable[[str], int]) -> list[str]:
    out, current = [], ""
    for char in word:
        if current and measure(current + char) > size:
            out.append(current)
            current = ""
        current += char
    return [*out, current] if current else out
