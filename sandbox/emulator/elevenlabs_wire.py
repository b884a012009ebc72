"""ElevenLabs under ``/elevenlabs`` (= LiteLLM ``api_base``, without ``/v1``).

| method, path                                   | what                                         |
|------------------------------------------------|----------------------------------------------|
| POST /elevenlabs/v1/text-to-speech/{voice_id}  | ``{text, model_id}``, ``?output_format=``    |
| POST /elevenlabs/v1/text-to-speech/{id}/stream | the same                                     |
| POST /elevenlabs/v1/speech-to-text             | multipart ``model_id, file, language_code``  |

Auth is ``xi-api-key``. ``output_format`` is ``mp3_{rate}_{kbps}`` (default mp3_44100_128),
``pcm_{rate}``, ``opus_48000_{kbps}`` or ``wav_{rate}``; anything else (LiteLLM passes
"wav", "aac", "flac" through unmapped) is a 400, as is a voice id that is not 20 letters and
digits, or a text over the model's limit. Errors are ``{"detail": {"status", "message"}}``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import media
from sandbox.emulator.behaviour import strip_directives
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.media_http import audio_response, read_form
from sandbox.emulator.transport import EmulatedResponse, dump

PREFIX = "/elevenlabs"
PROVIDER = "elevenlabs"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
VOICE_ID_RE = re.compile(r"[A-Za-z0-9]{20}")
OUTPUT_FORMAT_RE = re.compile(r"(?P<codec>mp3|pcm|opus|wav)_(?P<rate>8000|16000|22050|24000|44100|48000)(?:_\d+)?")
FORMAT_TYPES = {"mp3": "audio/mpeg", "pcm": "audio/pcm", "opus": "audio/ogg", "wav": "audio/wav"}
TEXT_LIMITS = {"eleven_v3": 5000, "eleven_multilingual_v2": 10_000, "eleven_flash_v2_5": 40_000}
DEFAULT_TEXT_LIMIT = 10_000
_STATUS = {
    400: "invalid_request",
    401: "invalid_api_key",
    404: "not_found",
    422: "invalid_request",
    429: "too_many_concurrent_requests",
}
_LANGUAGES = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por"}


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {
        "detail": {"status": _STATUS.get(status, "internal_error" if status >= 500 else "error"), "message": message}
    }


def _key_missing(call: Call) -> EmulatedResponse | None:
    if call.request.headers.get("xi-api-key"):
        return None
    return call.error(401, "Invalid API key (emulated: missing xi-api-key)")


async def text_to_speech(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    body = call.json_body or {}
    if isinstance(body.get("model_id"), str):
        call.entry.model = body["model_id"]
    failed = _key_missing(call)
    if failed is not None:
        return failed
    voice_id: str = request.path_params["voice_id"]
    if not VOICE_ID_RE.fullmatch(voice_id):
        return call.error(400, f"A voice with voice_id {voice_id!r} does not exist.")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return call.error(422, "text: field required")
    limit = TEXT_LIMITS.get(call.model, DEFAULT_TEXT_LIMIT)
    if len(text) > limit:
        return call.error(400, f"text is too long: {len(text)} characters, the limit of {call.model} is {limit}")
    output_format = request.query_params.get("output_format") or DEFAULT_OUTPUT_FORMAT
    match = OUTPUT_FORMAT_RE.fullmatch(output_format)
    if match is None or (match["codec"] == "opus" and match["rate"] != "48000"):
        return call.error(
            400, f"Invalid output_format {output_format!r}: use mp3_44100_128, pcm_24000, opus_48000_64, ..."
        )
    behaviour = call.resolve_or_error(text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    codec = match["codec"]
    rate = 48_000 if codec == "opus" else int(match["rate"])
    spoken = strip_directives(text)
    pcm = await media.speech_pcm(spoken, voice=voice_id, rate=rate)
    fmt: media.AudioFormat = (
        "opus" if codec == "opus" else "mp3" if codec == "mp3" else "wav" if codec == "wav" else "pcm"
    )
    audio = await media.encode_pcm(pcm, fmt, rate=rate, text=spoken)
    return audio_response(call, behaviour, audio, FORMAT_TYPES[codec])


async def speech_to_text(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    form = read_form(call, await request.body())
    failed = _key_missing(call)
    if failed is not None:
        return failed
    if form is None:
        return call.error(422, "the body must be multipart/form-data")
    upload = form.files.get("file")
    if upload is None or not form.get("model_id"):
        return call.error(422, "file and model_id are required")
    try:
        transcript = await media.transcribe(upload.data)
    except media.MediaError as exc:
        return call.error(400, f"Invalid audio file: {exc}")
    behaviour = call.resolve_or_error(transcript.text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    words: list[dict[str, Any]] = []
    for index, word in enumerate(transcript.words()):
        if index:
            spacing_at = words[-1]["end"]
            words.append(
                {"text": " ", "start": spacing_at, "end": word.start, "type": "spacing", "speaker_id": "speaker_0"}
            )
        words.append(
            {
                "text": word.text,
                "start": word.start,
                "end": word.end,
                "type": "word",
                "speaker_id": "speaker_0",
                "logprob": 0.0,
            }
        )
    language = form.get("language_code") or "en"
    out = {
        "language_code": _LANGUAGES.get(language, language),
        "language_probability": 0.98,
        "text": transcript.text,
        "words": words,
    }
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/v1/text-to-speech/{{voice_id}}", text_to_speech, methods=["POST"]),
        Route(f"{PREFIX}/v1/text-to-speech/{{voice_id}}/stream", text_to_speech, methods=["POST"]),
        Route(f"{PREFIX}/v1/speech-to-text", speech_to_text, methods=["POST"]),
    ]
