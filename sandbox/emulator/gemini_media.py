"""Gemini's media answers: image and speech models behind ``generateContent``, Imagen's
``:predict``, and transcription through the Interactions API.

- ``generateContent`` whose ``responseModalities`` include IMAGE: a text part and an
  ``inlineData`` PNG sized by ``imageConfig`` (``aspectRatio`` x ``imageSize``, Gemini's table).
- ``generateContent`` with AUDIO: ``inlineData`` ``audio/L16;codec=pcm;rate=24000`` (base64
  16-bit PCM), voice from ``speechConfig`` (one of Gemini's prebuilt voices, else a 400).
- ``:predict`` (Imagen): ``predictions[{bytesBase64Encoded, mimeType}]``.
- ``POST /interactions`` (what LiteLLM uses for gemini-*-transcribe, under ``{api_base}/v1beta``):
  ``{status: "completed", steps: [{content: [{type: "text", text, annotations}]}], usage}``,
  with ``word_info`` annotations when verbatim word timestamps are asked for.
"""

from __future__ import annotations

import base64
from typing import Any

from sandbox.emulator import media
from sandbox.emulator.behaviour import strip_directives
from sandbox.emulator.calls import Call
from sandbox.emulator.gemini_fields import field, parts_text
from sandbox.emulator.reply import new_id
from sandbox.emulator.transport import EmulatedResponse, dump

GEMINI_VOICE_NAMES = (
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
)
GEMINI_VOICES = frozenset(name.lower() for name in GEMINI_VOICE_NAMES)
SPEECH_MIME = f"audio/L16;codec=pcm;rate={media.PCM_RATE}"
# Gemini image models' pixel sizes at imageSize "1K"; "2K" and "4K" double and quadruple them.
GEMINI_IMAGE_SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGEN_SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
SCALES = {"1K": 1, "2K": 2, "4K": 4}


def modalities(body: dict[str, Any]) -> set[str]:
    config = field(body, "generationConfig", "generation_config")
    values = field(config, "responseModalities", "response_modalities") or []
    return {str(v).upper() for v in values}


def _last_user_text(body: dict[str, Any]) -> str:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict) and c.get("role", "user") == "user"]
    return parts_text(contents[-1]) if contents else ""


def _usage(prompt: str, output_tokens: int, modality: str) -> dict[str, Any]:
    prompt_tokens = max(1, len(prompt.split()))
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        "candidatesTokensDetails": [{"modality": modality, "tokenCount": output_tokens}],
    }


def _scaled(table: dict[str, tuple[int, int]], ratio: Any, size: Any) -> tuple[int, int]:
    base = table.get(str(ratio or "1:1"))
    if base is None:
        raise media.MediaError(f"aspectRatio {ratio!r} is not supported; use one of {', '.join(table)}")
    scale = SCALES.get(str(size or "1K").upper())
    if scale is None:
        raise media.MediaError(f"imageSize {size!r} is not supported; use 1K, 2K or 4K")
    return base[0] * scale, base[1] * scale


def _answer(call: Call, behaviour: Any, parts: list[dict[str, Any]], usage: dict[str, Any]) -> EmulatedResponse:
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
    out = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": call.model, "responseId": new_id("", 22)}
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


async def generate_image(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    prompt = _last_user_text(body)
    config = field(field(body, "generationConfig", "generation_config"), "imageConfig", "image_config")
    try:
        width, height = _scaled(
            GEMINI_IMAGE_SIZES, field(config, "aspectRatio", "aspect_ratio"), field(config, "imageSize", "image_size")
        )
    except media.MediaError as exc:
        return call.error(400, str(exc))
    behaviour = call.resolve_or_error(prompt)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    picture = await media.image(strip_directives(prompt), width, height, "png")
    parts: list[dict[str, Any]] = [
        {"text": f"Here is an emulated image for: {strip_directives(prompt)[:40]}"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(picture).decode()}},
    ]
    return _answer(call, behaviour, parts, _usage(prompt, 1290, "IMAGE"))


async def generate_speech(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    text = _last_user_text(body)
    if not text.strip():
        return call.error(400, "* GenerateContentRequest.contents: text is empty")
    config = field(body, "generationConfig", "generation_config")
    voice_config = field(field(config, "speechConfig", "speech_config"), "voiceConfig", "voice_config")
    voice = field(field(voice_config, "prebuiltVoiceConfig", "prebuilt_voice_config"), "voiceName", "voice_name")
    if voice is not None and str(voice).lower() not in GEMINI_VOICES:
        return call.error(
            400, f"Voice name {voice} is not supported. Allowed voice names are: {', '.join(GEMINI_VOICE_NAMES)}"
        )
    behaviour = call.resolve_or_error(text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    pcm = await media.speech_pcm(strip_directives(text), voice=str(voice or "Kore"))
    part = {"inlineData": {"mimeType": SPEECH_MIME, "data": base64.b64encode(pcm).decode()}}
    seconds = len(pcm) / 2 / media.PCM_RATE
    return _answer(call, behaviour, [part], _usage(text, max(1, round(seconds * 25)), "AUDIO"))


async def predict(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    instances = body.get("instances")
    prompt = (
        instances[0].get("prompt")
        if isinstance(instances, list) and instances and isinstance(instances[0], dict)
        else None
    )
    if not isinstance(prompt, str) or not prompt.strip():
        return call.error(400, "* instances[0].prompt: prompt is required")
    raw_parameters = body.get("parameters")
    parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
    count = parameters.get("sampleCount") or 1
    if not isinstance(count, int) or not 1 <= count <= 4:
        return call.error(400, f"sampleCount must be between 1 and 4, got {count!r}")
    try:
        width, height = _scaled(
            IMAGEN_SIZES,
            parameters.get("aspectRatio"),
            parameters.get("sampleImageSize") or parameters.get("imageSize"),
        )
    except media.MediaError as exc:
        return call.error(400, str(exc))
    behaviour = call.resolve_or_error(prompt)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    predictions = []
    for index in range(count):
        picture = await media.image(f"{strip_directives(prompt)}\0{index}", width, height, "png")
        predictions.append({"bytesBase64Encoded": base64.b64encode(picture).decode(), "mimeType": "image/png"})
    out = dump({"predictions": predictions})
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=out))


def _offset(seconds: float) -> str:
    return f"{seconds:.3f}s"


async def interaction(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    inputs = body.get("input")
    audios = [i for i in inputs if isinstance(i, dict) and i.get("type") == "audio"] if isinstance(inputs, list) else []
    audio = audios[0] if audios else None
    if audio is None or not isinstance(audio.get("data"), str):
        return call.error(400, "* input: an audio input with base64 data is required")
    try:
        transcript = await media.transcribe(base64.b64decode(audio["data"], validate=False))
    except (media.MediaError, ValueError) as exc:
        return call.error(400, f"Unable to process input audio: {exc}")
    behaviour = call.resolve_or_error(transcript.text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    config = field(field(body, "generationConfig", "generation_config"), "transcriptionConfig", "transcription_config")
    mode = field(config, "mode", "mode") or {}
    granularities = field(mode, "timestampGranularities", "timestamp_granularities") or []
    annotations = []
    if "word" in granularities:
        annotations = [
            {
                "type": "word_info",
                "text": w.text,
                "speaker": "1",
                "start_offset": _offset(w.start),
                "end_offset": _offset(w.end),
            }
            for w in transcript.words()
        ]
    audio_tokens = max(1, round(transcript.duration * 25))
    output_tokens = max(1, len(transcript.text.split()))
    out = {
        "id": new_id("interaction_"),
        "status": "completed",
        "model": call.model,
        "steps": [
            {"type": "model_output", "content": [{"type": "text", "text": transcript.text, "annotations": annotations}]}
        ],
        "usage": {
            "total_tokens": audio_tokens + output_tokens,
            "total_input_tokens": audio_tokens,
            "total_output_tokens": output_tokens,
            "input_tokens_by_modality": [{"modality": "audio", "tokens": audio_tokens}],
        },
    }
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))
