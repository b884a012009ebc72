"""What each media task takes as input, checked before anything is enqueued.

The gateway checks a job's `input` (and the OpenAI-compatible media endpoints check their
bodies) with `parse_task_input`; the worker decodes the same input with the same types, so a
job that reached a worker has a valid input. Text tasks take a chat request and are checked
by the chat code; video and plans bring their own types.

The fields are OpenAI's (embeddings, images, speech, transcriptions bodies) where OpenAI has
one, so a client moving from OpenAI's API sends what it sent before.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from catalog.errors import problem_and_path

MAX_EMBED_INPUTS = 2048  # OpenAI's limit for one embeddings request
MAX_EMBED_TEXT_CHARS = 100_000  # per input: far above every catalog model's context window
MAX_PROMPT_CHARS = 32_000  # gpt-image's prompt limit, the longest in the catalog
MAX_SPEECH_CHARS = 200_000  # a long podcast script; split into model-sized pieces by the worker
MAX_DIMENSION = 8192  # image side in pixels and embedding width

SpeechFormat = Literal["mp3", "wav", "opus", "aac", "flac", "pcm"]
TranscriptFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
ImageFormat = Literal["png", "jpeg", "webp"]
ImageQuality = Literal["auto", "low", "medium", "high", "standard", "hd"]

_SIZE = re.compile(r"^(?P<w>\d{2,5})x(?P<h>\d{2,5})$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]*)`$")
_FILE_ID = re.compile(r"^file_[A-Za-z0-9_-]{8,64}$")


class TaskInputError(ValueError):
    """An input the task cannot take. `field` is its dotted path inside the input ("text",
    "input[3]"), or None when the input as a whole is wrong."""

    def __init__(self, problem: str, field: str | None) -> None:
        super().__init__(f"{problem} (at '{field}')" if field else problem)
        self.problem = problem
        self.field = field


class _Input(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    def check(self) -> None:
        """Rules msgspec's types cannot say; raises `TaskInputError`."""


class EmbedInput(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # A string, a list of strings, a list of token ids, or a list of token-id lists (what
    # langchain-openai sends by default). msgspec allows one array type in a union, so the
    # list's items are checked in `check`.
    input: str | list[Any]
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=MAX_DIMENSION)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: Annotated[str, msgspec.Meta(max_length=256)] | None = None

    def check(self) -> None:
        if isinstance(self.input, str):
            _text_within("input", self.input, MAX_EMBED_TEXT_CHARS)
            return
        if not self.input:
            raise TaskInputError("must not be an empty list", "input")
        if len(self.input) > MAX_EMBED_INPUTS:
            raise TaskInputError(f"at most {MAX_EMBED_INPUTS} inputs per request", "input")
        first = self.input[0]
        for i, item in enumerate(self.input):
            where = f"input[{i}]"
            if isinstance(first, str):
                if not isinstance(item, str):
                    raise TaskInputError("every item must be a string, like the first", where)
                _text_within(where, item, MAX_EMBED_TEXT_CHARS)
            elif _is_token_id(first):
                if not _is_token_id(item):
                    raise TaskInputError("every item must be a token id (an integer ≥ 0), like the first", where)
            elif isinstance(first, list):
                if not isinstance(item, list) or not item or not all(_is_token_id(t) for t in item):
                    raise TaskInputError("every item must be a non-empty list of token ids", where)
            else:
                raise TaskInputError("must be strings, token ids or lists of token ids", where)

    @property
    def count(self) -> int:
        """How many vectors the answer holds."""
        if isinstance(self.input, str) or _is_token_id(self.input[0]):
            return 1
        return len(self.input)


class ImageInput(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prompt: str
    n: Annotated[int, msgspec.Meta(ge=1, le=4)] = 1
    size: str | None = None  # WIDTHxHEIGHT or "auto"; None: the model's default
    quality: ImageQuality | None = None
    output_format: ImageFormat = "png"

    def check(self) -> None:
        _text_within("prompt", self.prompt, MAX_PROMPT_CHARS)
        if self.size is not None and self.size != "auto":
            width_height = image_size(self.size)
            if width_height is None:
                raise TaskInputError(
                    f"must be WIDTHxHEIGHT (each 64 to {MAX_DIMENSION} pixels, like '1024x1024') or 'auto'", "size"
                )

    @property
    def media_type(self) -> str:
        return f"image/{self.output_format}"


class SpeechInput(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: str
    voice: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] = "alloy"
    format: SpeechFormat = "mp3"
    speed: Annotated[float, msgspec.Meta(ge=0.25, le=4.0)] = 1.0
    instructions: Annotated[str, msgspec.Meta(max_length=4096)] | None = None

    def check(self) -> None:
        _text_within("text", self.text, MAX_SPEECH_CHARS)


class TranscribeInput(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    file_id: str | None = None  # an upload from POST /api/files
    audio_url: str | None = None  # http(s), fetched by the worker
    language: str | None = None  # ISO-639-1 ("en"), optionally with a region
    prompt: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    response_format: TranscriptFormat = "json"
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None

    def check(self) -> None:
        if (self.file_id is None) == (self.audio_url is None):
            raise TaskInputError("give exactly one of 'file_id' and 'audio_url'", None)
        if self.file_id is not None and not _FILE_ID.match(self.file_id):
            raise TaskInputError("must be a file id from POST /api/files (like 'file_…')", "file_id")
        if self.audio_url is not None:
            scheme = self.audio_url.split(":", 1)[0].lower()
            if scheme not in ("http", "https") or "://" not in self.audio_url or len(self.audio_url) > 2048:
                raise TaskInputError("must be an http:// or https:// URL of at most 2048 characters", "audio_url")
        if self.language is not None and not _LANGUAGE.match(self.language):
            raise TaskInputError("must be a language code like 'en' or 'pt-BR'", "language")


TaskInput = EmbedInput | ImageInput | SpeechInput | TranscribeInput
INPUT_TYPES: dict[str, type[_Input]] = {
    "embed_text": EmbedInput,
    "image_generate": ImageInput,
    "tts": SpeechInput,
    "transcribe": TranscribeInput,
}


def parse_task_input(task: str, value: Any) -> Any:
    """`value` (decoded JSON) as the task's input type, checked; `TaskInputError` naming the
    field otherwise. Tasks without a type here (text, video, plans) return `value` as is."""
    kind = INPUT_TYPES.get(task)
    if kind is None:
        return value
    if value is None:
        raise TaskInputError(f"task '{task}' needs an input object", None)
    try:
        parsed = msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        problem, path = problem_and_path(exc)
        field = path.removeprefix("$").lstrip(".") or None if path is not None else None
        named = _NAMED_FIELD.match(problem)
        if named is not None:  # "Object missing required field `text`": name that field
            field = f"{field}.{named['name']}" if field else named["name"]
        raise TaskInputError(problem, field) from None
    parsed.check()
    return parsed


def image_size(size: str) -> tuple[int, int] | None:
    """(width, height) of a WIDTHxHEIGHT size within bounds; None otherwise."""
    match = _SIZE.match(size)
    if match is None:
        return None
    width, height = int(match["w"]), int(match["h"])
    if not (64 <= width <= MAX_DIMENSION and 64 <= height <= MAX_DIMENSION):
        return None
    return width, height


def _text_within(field: str, text: str, limit: int) -> None:
    if not text.strip():
        raise TaskInputError("must not be empty", field)
    if len(text) > limit:
        raise TaskInputError(f"at most {limit} characters (got {len(text)})", field)


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
