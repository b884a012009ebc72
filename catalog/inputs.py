"""What each media task takes as input, checked before anything is enqueued.

The gateway checks a job's `input` (and the OpenAI-compatible media endpoints check their
bodies) with `parse_task_input`; the worker decodes the same input with the same types, so a
job that reached a worker has a valid input. Text tasks take a chat request and are checked
by the chat code; plans bring their own types.

The fields are OpenAI's (embeddings, images, speech, transcriptions bodies) where OpenAI has
one, so a client moving from OpenAI's API sends what it sent before.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import msgspec

from catalog.errors import problem_and_path
from catalog.schema import RequiredInput, VideoLimits

MAX_EMBED_INPUTS = 2048  # OpenAI's limit for one embeddings request
MAX_EMBED_TEXT_CHARS = 100_000  # per input: far above every catalog model's context window
MAX_PROMPT_CHARS = 32_000  # gpt-image's prompt limit, the longest in the catalog
MAX_SPEECH_CHARS = 200_000  # a long podcast script; split into model-sized pieces by the worker
MAX_DIMENSION = 8192  # image side in pixels and embedding width
MAX_VIDEO_PROMPT_CHARS = 10_000  # a HeyGen avatar script (its limit is 5,000) with room to spare
MAX_VIDEO_SECONDS = 600  # above every catalog model; each model's own list is checked later
MAX_URL_CHARS = 2048

SpeechFormat = Literal["mp3", "wav", "opus", "aac", "flac", "pcm"]
TranscriptFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
ImageFormat = Literal["png", "jpeg", "webp"]
ImageQuality = Literal["auto", "low", "medium", "high", "standard", "hd"]
AspectRatio = Literal["16:9", "9:16", "1:1"]

_SIZE = re.compile(r"^(?P<w>\d{2,5})x(?P<h>\d{2,5})$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]*)`$")
_FILE_ID = re.compile(r"^file_[A-Za-z0-9_-]{8,64}$")
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # HeyGen avatar and voice ids


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


class ImageReference(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An image a video starts from: an upload (`POST /api/files`) or an https URL the worker
    fetches."""

    file_id: str | None = None
    url: str | None = None

    def check(self) -> None:
        if (self.file_id is None) == (self.url is None):
            raise TaskInputError("give exactly one of 'file_id' and 'url'", "image")
        if self.file_id is not None and not _FILE_ID.match(self.file_id):
            raise TaskInputError("must be a file id from POST /api/files (like 'file_…')", "image.file_id")
        if self.url is not None and (not self.url.lower().startswith("https://") or len(self.url) > MAX_URL_CHARS):
            raise TaskInputError(f"must be an https:// URL of at most {MAX_URL_CHARS} characters", "image.url")


class VideoInput(_Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`video_generate`'s input. What the chosen model accepts (its seconds, sizes, whether
    it needs an image or an avatar) is checked by the gateway against the catalog's
    `video` limits once the model is known; here only what holds for every model."""

    prompt: str | None = None  # the scene, or a HeyGen avatar's script
    seconds: Annotated[int, msgspec.Meta(ge=1, le=MAX_VIDEO_SECONDS)] | None = None
    size: str | None = None  # WIDTHxHEIGHT
    aspect_ratio: AspectRatio | None = None
    image: ImageReference | None = None
    avatar_id: str | None = None
    voice_id: str | None = None

    def check(self) -> None:
        if self.prompt is not None or self.avatar_id is None:
            if self.prompt is None:
                raise TaskInputError("a video needs a 'prompt' (or a HeyGen 'avatar_id' and 'voice_id')", "prompt")
            _text_within("prompt", self.prompt, MAX_VIDEO_PROMPT_CHARS)
        if self.size is not None and self.aspect_ratio is not None:
            raise TaskInputError("give 'size' or 'aspect_ratio', not both", "aspect_ratio")
        if self.size is not None and image_size(self.size) is None:
            raise TaskInputError("must be WIDTHxHEIGHT (like '1280x720')", "size")
        if self.image is not None:
            self.image.check()
        for name, value in (("avatar_id", self.avatar_id), ("voice_id", self.voice_id)):
            if value is not None and not _PROVIDER_ID.match(value):
                raise TaskInputError("must be a provider id of letters, digits and . _ : - (at most 128)", name)
        if (self.avatar_id is None) != (self.voice_id is None):
            missing = "voice_id" if self.voice_id is None else "avatar_id"
            raise TaskInputError("an avatar video needs both 'avatar_id' and 'voice_id'", missing)

    @property
    def carried(self) -> tuple[RequiredInput, ...]:
        """The inputs a model may require that this request carries (the brain's `inputs`)."""
        found: list[RequiredInput] = []
        if self.image is not None:
            found.append("image")
        if self.avatar_id is not None:
            found.append("avatar")
        return tuple(found)


def size_ratio(size: str) -> str:
    """A WIDTHxHEIGHT size's aspect ratio in lowest terms ("1280x720" -> "16:9")."""
    width, height = (int(side) for side in size.split("x"))
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def check_video_limits(request: VideoInput, limits: VideoLimits, model_id: str) -> None:
    """`TaskInputError` naming the field when the model cannot make the video asked for."""
    if request.seconds is not None:
        if not limits.seconds:
            raise TaskInputError(
                f"model {model_id} makes a video as long as its script; leave 'seconds' out", "seconds"
            )
        if request.seconds not in limits.seconds:
            allowed = ", ".join(str(s) for s in limits.seconds)
            raise TaskInputError(f"model {model_id} makes videos of {allowed} s (got {request.seconds})", "seconds")
    if request.size is not None and request.size not in limits.sizes:
        raise TaskInputError(f"model {model_id} makes sizes {', '.join(limits.sizes)} (got {request.size})", "size")
    if request.aspect_ratio is not None and video_size(request, limits) is None:
        ratios = ", ".join(sorted({size_ratio(s) for s in limits.sizes}))
        raise TaskInputError(
            f"model {model_id} makes aspect ratios {ratios} (got {request.aspect_ratio})", "aspect_ratio"
        )


def video_size(request: VideoInput, limits: VideoLimits) -> str | None:
    """The size to ask the model for: the request's, else the first of the model's sizes with
    the requested aspect ratio (None: none has it), else the model's first size."""
    if request.size is not None:
        return request.size
    if request.aspect_ratio is not None:
        return next((s for s in limits.sizes if size_ratio(s) == request.aspect_ratio), None)
    return limits.sizes[0]


TaskInput = EmbedInput | ImageInput | SpeechInput | TranscribeInput | VideoInput
INPUT_TYPES: dict[str, type[_Input]] = {
    "embed_text": EmbedInput,
    "image_generate": ImageInput,
    "tts": SpeechInput,
    "transcribe": TranscribeInput,
    "video_generate": VideoInput,
}


def parse_task_input(task: str, value: Any) -> Any:
    """`value` (decoded JSON) as the task's input type, checked; `TaskInputError` naming the
    field otherwise. Tasks without a type here (text, plans) return `value` as is."""
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
