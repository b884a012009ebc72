"""OpenAI's media endpoints under every OpenAI-compatible prefix (``openai_wire.PREFIXES``).

| path                       | body                 | answer                                          |
|----------------------------|----------------------|-------------------------------------------------|
| ``/images/generations``    | JSON                 | ``{created, data: [{b64_json}or{url}], usage}`` |
| ``/audio/speech``          | JSON                 | the audio, chunked, with its content type       |
| ``/audio/transcriptions``  | multipart            | json, text, verbose_json, srt or vtt            |

Provider 400s as the real APIs give them: an unknown voice (OpenAI's voices; Groq's Orpheus
voices), a size that is not WIDTHxHEIGHT in multiples of 16 within 256..4096, an unknown
format, ``verbose_json``/``srt``/``vtt`` for the gpt-4o transcribe models, audio that does
not decode.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import media
from sandbox.emulator.behaviour import strip_directives
from sandbox.emulator.calls import Call, bearer_token, begin
from sandbox.emulator.media_http import audio_response, media_url, read_form
from sandbox.emulator.openai_wire import PREFIXES, error_shape
from sandbox.emulator.reply import new_id
from sandbox.emulator.transport import EmulatedResponse, dump

Endpoint = Callable[[Request], Awaitable[EmulatedResponse]]

OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse", "marin", "cedar"}
)
# Groq's Orpheus voices; any other name is a 400 there (LiteLLM passes the voice through).
GROQ_VOICES = frozenset({"autumn", "diana", "hannah", "austin", "daniel", "troy"})
VOICES: dict[str, frozenset[str]] = {"openai": OPENAI_VOICES, "groq": GROQ_VOICES}
SPEECH_TYPES = {**media.AUDIO_TYPES, "opus": "audio/opus"}
DEFAULT_SPEECH_FORMAT = {"groq": "wav"}
MAX_SPEECH_CHARS = 4096
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
LANGUAGES = {"en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese"}
IMAGE_SIDE = (256, 4096)


def _checked(call: Call) -> EmulatedResponse | None:
    if bearer_token(call.request) is None:
        return call.error(401, "You didn't provide an API key (emulated: missing Authorization: Bearer).")
    return None


def _bad(call: Call, message: str) -> EmulatedResponse:
    return call.error(400, message)


# -- images -------------------------------------------------------------------------------
def _image_size(value: Any) -> tuple[int, int]:
    width, height = media.parse_size(value)
    low, high = IMAGE_SIDE
    if width % 16 or height % 16 or not (low <= width <= high and low <= height <= high):
        raise media.MediaError(
            f"Invalid value for 'size': {value!r}. Each side must be a multiple of 16 between {low} and {high}."
        )
    return width, height


def images_endpoint(provider: str) -> Endpoint:
    async def images(request: Request) -> EmulatedResponse:
        call = await begin(request, provider, error_shape)
        failed = _checked(call)
        if failed is not None:
            return failed
        body = call.json_body
        if body is None or not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return _bad(call, "'prompt' is required")
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 10:
            return _bad(call, f"Invalid value for 'n': {n!r}. Expected an integer between 1 and 10.")
        fmt = body.get("output_format") or "png"
        if fmt not in media.IMAGE_TYPES:
            return _bad(call, f"Invalid value for 'output_format': {fmt!r}. Supported: png, jpeg, webp.")
        try:
            width, height = _image_size(body.get("size"))
        except media.MediaError as exc:
            return _bad(call, str(exc))
        behaviour = call.resolve_or_error(body["prompt"])
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        as_url = body.get("response_format", "url" if call.model.startswith("dall-e") else "b64_json") == "url"
        prompt = strip_directives(body["prompt"])
        data: list[dict[str, Any]] = []
        for index in range(n):
            picture = await media.image(f"{prompt}\0{index}", width, height, cast(media.ImageFormat, fmt))
            if as_url:
                data.append({"url": media_url(call, picture, media.IMAGE_TYPES[fmt], fmt)})
            else:
                data.append({"b64_json": base64.b64encode(picture).decode()})
        words = max(1, len(prompt.split()))
        usage = {
            "input_tokens": words,
            "input_tokens_details": {"text_tokens": words, "image_tokens": 0},
            "output_tokens": 272 * n,
            "total_tokens": words + 272 * n,
        }
        out = {"created": int(time.time()), "data": data, "usage": usage, "size": f"{width}x{height}"}
        out["output_format"] = fmt
        return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))

    return images


# -- speech -------------------------------------------------------------------------------
def speech_endpoint(provider: str) -> Endpoint:
    async def speech(request: Request) -> EmulatedResponse:
        call = await begin(request, provider, error_shape)
        failed = _checked(call)
        if failed is not None:
            return failed
        body = call.json_body or {}
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            return _bad(call, "'input' is required")
        if len(text) > MAX_SPEECH_CHARS:
            return _bad(call, f"'input' is too long: {len(text)} characters, at most {MAX_SPEECH_CHARS}.")
        voice = body.get("voice")
        if isinstance(voice, dict):
            voice = voice.get("id")
        allowed = VOICES.get(provider)
        if not isinstance(voice, str) or (allowed is not None and voice not in allowed):
            choices = ", ".join(sorted(allowed or ()))
            return _bad(call, f"Invalid value for 'voice': {voice!r}." + (f" Supported: {choices}." if choices else ""))
        fmt = body.get("response_format") or DEFAULT_SPEECH_FORMAT.get(provider, "mp3")
        if fmt not in media.AUDIO_TYPES:
            return _bad(call, f"Invalid value for 'response_format': {fmt!r}.")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
            return _bad(call, f"Invalid value for 'speed': {speed!r}. Expected 0.25 to 4.0.")
        behaviour = call.resolve_or_error(text)
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        audio = await media.speech(strip_directives(text), cast(media.AudioFormat, fmt), voice=voice, speed=speed)
        return audio_response(call, behaviour, audio, SPEECH_TYPES[fmt])

    return speech


# -- transcription ------------------------------------------------------------------------
def _timestamp(seconds: float, sep: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def subtitles(transcript: media.Transcript, fmt: str) -> str:
    """SRT or WebVTT cues, one per sentence."""
    sep = "," if fmt == "srt" else "."
    cues = []
    for number, segment in enumerate(transcript.segments(), start=1):
        times = f"{_timestamp(segment.start, sep)} --> {_timestamp(segment.end, sep)}"
        cues.append(f"{number}\n{times}\n{segment.text}\n" if fmt == "srt" else f"{times}\n{segment.text}\n")
    body = "\n".join(cues)
    return body if fmt == "srt" else f"WEBVTT\n\n{body}"


def verbose(transcript: media.Transcript, language: str, *, words: bool) -> dict[str, Any]:
    segments = [
        {
            "id": i,
            "seek": 0,
            "start": s.start,
            "end": s.end,
            "text": " " + s.text,
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 1.2,
            "no_speech_prob": 0.01,
        }
        for i, s in enumerate(transcript.segments())
    ]
    out: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGES.get(language, language),
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": segments,
    }
    if words:
        out["words"] = [{"word": w.text, "start": w.start, "end": w.end} for w in transcript.words()]
    return out


def transcriptions_endpoint(provider: str) -> Endpoint:
    async def transcriptions(request: Request) -> EmulatedResponse:
        call = await begin(request, provider, error_shape)
        failed = _checked(call)
        if failed is not None:
            return failed
        form = read_form(call, await request.body())
        if form is None:
            return _bad(call, "the body must be multipart/form-data")
        upload = form.files.get("file")
        if upload is None:
            return _bad(call, "'file' is required")
        if not call.model:
            return _bad(call, "'model' is required")
        fmt = form.get("response_format") or "json"
        allowed = ("json", "text") if "gpt-4o" in call.model else TRANSCRIPT_FORMATS
        if fmt not in allowed:
            return _bad(call, f"response_format '{fmt}' is not compatible with model '{call.model}'. Use {allowed}.")
        try:
            transcript = await media.transcribe(upload.data)
        except media.MediaError as exc:
            return _bad(
                call,
                f"Invalid file format: {exc}. Supported formats: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm",
            )
        behaviour = call.resolve_or_error(f"{form.get('prompt') or ''} {transcript.text}")
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        language = form.get("language") or "en"
        headers = call.headers()
        if fmt in ("text", "srt", "vtt"):
            text = transcript.text + "\n" if fmt == "text" else subtitles(transcript, fmt)
            content_type = "text/vtt; charset=utf-8" if fmt == "vtt" else "text/plain; charset=utf-8"
            response = EmulatedResponse(
                behaviour=behaviour, headers=headers, body=text.encode(), media_type=content_type
            )
            return call.finish(response)
        out: dict[str, Any]
        if fmt == "verbose_json":
            granularities = form.get_all("timestamp_granularities[]") + form.get_all("timestamp_granularities")
            out = verbose(transcript, language, words="word" in granularities)
            if provider == "groq":
                out["x_groq"] = {"id": new_id("req_")}
        else:
            out = {"text": transcript.text, "usage": _transcription_usage(call.model, transcript)}
        return call.finish(EmulatedResponse(behaviour=behaviour, headers=headers, body=dump(out)))

    return transcriptions


def _transcription_usage(model: str, transcript: media.Transcript) -> dict[str, Any]:
    if "gpt-4o" in model:
        audio_tokens = max(1, round(transcript.duration * 10))
        output = max(1, len(transcript.text.split()))
        return {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            "output_tokens": output,
            "total_tokens": audio_tokens + output,
        }
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def routes() -> list[Route]:
    out: list[Route] = []
    for provider, prefix in PREFIXES.items():
        out.append(Route(f"{prefix}/images/generations", images_endpoint(provider), methods=["POST"]))
        out.append(Route(f"{prefix}/audio/speech", speech_endpoint(provider), methods=["POST"]))
        out.append(Route(f"{prefix}/audio/transcriptions", transcriptions_endpoint(provider), methods=["POST"]))
    return out
