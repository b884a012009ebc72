"""HeyGen under ``/heygen`` (the target of LiteLLM's ``/heygen`` pass-through endpoint).

- ``POST /heygen/v2/video/generate`` ``{video_inputs: [{character: {type: "avatar", avatar_id,
  use_avatar_iv_model?} | {type: "talking_photo", talking_photo_id}, voice: {type: "text",
  input_text, voice_id} | {type: "audio", audio_url}}], dimension?: {width, height}}``
  -> ``{error: null, data: {video_id}}``.
- ``POST /heygen/v1/video_agent/generate`` ``{prompt, config?: {duration_sec, orientation}}``
  -> the same answer (HeyGen's Video Agent).
- ``GET /heygen/v1/video_status.get?video_id=``: ``{code: 100, data: {id, status: pending |
  processing | completed | failed, video_url, duration, error}, message}``; ``video_url`` is
  the emulator's ``/videos/{id}.mp4`` (no auth). HeyGen reports no progress and has no cancel.

Auth is ``X-Api-Key`` (LiteLLM injects it). The model the emulator logs and takes settings
for: ``avatar-iv`` when a character sets ``use_avatar_iv_model``, else ``avatar-iii``;
``video-agent`` for the agent. A script's video lasts as long as speaking it would
(``WORDS_PER_SECOND``); default dimension 1280x720. v2 errors are ``{error: {code,
message}, data: null}``, v1 errors ``{code, message, data: null}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import video
from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.transport import EmulatedResponse, dump
from sandbox.emulator.video_http import create_job, file_url, lookup, poll, resolve_create

WIRE = "heygen"
PROVIDER = "heygen"
PREFIX = "/heygen"
WORDS_PER_SECOND = 2.5
DEFAULT_DIMENSION = (1280, 720)
AGENT_SECONDS = 10.0
AGENT_DIMENSIONS = {"landscape": (1280, 720), "portrait": (720, 1280)}
_STATUS = {"queued": "pending", "in_progress": "processing", "completed": "completed", "failed": "failed"}


def v2_error(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    code = "invalid_parameter" if status == 400 else "unauthorized" if status == 401 else f"http_{status}"
    return {"error": {"code": code, "message": message}, "data": None}


def v1_error(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"code": 400_000 + status, "message": message, "data": None}


def _authorized(call: Call) -> EmulatedResponse | None:
    if not call.request.headers.get("x-api-key"):
        return call.error(401, "Unauthorized (emulated: missing X-Api-Key)")
    return None


class _BadInput(ValueError):
    pass


def _script(video_inputs: Any) -> tuple[str, bool]:
    """The spoken text of every scene, and whether any asks for Avatar IV."""
    if not isinstance(video_inputs, list) or not 1 <= len(video_inputs) <= 50:
        raise _BadInput("video_inputs must be a list of 1 to 50 scenes")
    texts: list[str] = []
    avatar_iv = False
    for index, scene in enumerate(video_inputs):
        character = scene.get("character") if isinstance(scene, dict) else None
        voice = scene.get("voice") if isinstance(scene, dict) else None
        if not isinstance(character, dict) or not isinstance(voice, dict):
            raise _BadInput(f"video_inputs[{index}] needs a character and a voice")
        id_field = {"avatar": "avatar_id", "talking_photo": "talking_photo_id"}.get(str(character.get("type")))
        if id_field is None or not character.get(id_field):
            raise _BadInput(f"video_inputs[{index}].character needs type avatar (avatar_id) or talking_photo")
        avatar_iv = avatar_iv or bool(character.get("use_avatar_iv_model"))
        if voice.get("type") == "text":
            if not voice.get("voice_id") or not isinstance(voice.get("input_text"), str) or not voice["input_text"]:
                raise _BadInput(f"video_inputs[{index}].voice needs voice_id and input_text")
            texts.append(voice["input_text"])
        elif voice.get("type") == "audio":
            if not voice.get("audio_url") and not voice.get("audio_asset_id"):
                raise _BadInput(f"video_inputs[{index}].voice needs audio_url or audio_asset_id")
            texts.append("audio scene")
        else:
            raise _BadInput(f"video_inputs[{index}].voice.type must be text or audio")
    return " ".join(texts), avatar_iv


def _dimension(value: Any) -> tuple[int, int]:
    if value is None:
        return DEFAULT_DIMENSION
    sides = (value.get("width"), value.get("height")) if isinstance(value, dict) else (None, None)
    if not all(isinstance(side, int) for side in sides):
        raise _BadInput("dimension needs integer width and height")
    width, height = value["width"], value["height"]
    if not (128 <= width <= 4096 and 128 <= height <= 4096):
        raise _BadInput("dimension sides must be between 128 and 4096")
    return video.even(width), video.even(height)


def _created(call: Call, behaviour: Behaviour | EmulatedResponse, **job: Any) -> EmulatedResponse:
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    made = create_job(call, behaviour, wire=WIRE, **job)
    body = {"error": None, "data": {"video_id": made.id}}
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(body)))


async def generate(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, v2_error)
    failed = _authorized(call)
    if failed is not None:
        return failed
    body = call.json_body
    if body is None:
        return call.error(400, "the body must be a JSON object")
    try:
        script, avatar_iv = _script(body.get("video_inputs"))
        width, height = _dimension(body.get("dimension"))
    except _BadInput as exc:
        return call.error(400, str(exc))
    call.entry.model = "avatar-iv" if avatar_iv else "avatar-iii"
    seconds = min(video.MAX_SECONDS, max(1.0, round(len(script.split()) / WORDS_PER_SECOND, 1)))
    behaviour = resolve_create(call, script)
    return _created(call, behaviour, prompt=script, seconds=seconds, width=width, height=height)


async def agent_generate(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, v2_error, model="video-agent")
    failed = _authorized(call)
    if failed is not None:
        return failed
    body = call.json_body
    prompt = body.get("prompt") if body is not None else None
    if not isinstance(prompt, str) or not prompt.strip():
        return call.error(400, "prompt is required")
    config = body.get("config") if body is not None else None
    config = config if isinstance(config, dict) else {}
    orientation = str(config.get("orientation") or "landscape")
    if orientation not in AGENT_DIMENSIONS:
        return call.error(400, "config.orientation must be landscape or portrait")
    seconds = config.get("duration_sec", AGENT_SECONDS)
    if not isinstance(seconds, int | float) or not 5 <= seconds <= video.MAX_SECONDS:
        return call.error(400, f"config.duration_sec must be between 5 and {video.MAX_SECONDS:g}")
    width, height = AGENT_DIMENSIONS[orientation]
    behaviour = resolve_create(call, prompt)
    return _created(call, behaviour, prompt=prompt, seconds=float(seconds), width=width, height=height)


async def status(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, v1_error)
    failed = _authorized(call)
    if failed is not None:
        return failed
    video_id = request.query_params.get("video_id")
    if not video_id:
        return call.error(400, "video_id is required")
    job = lookup(call, video_id, WIRE, not_found="Video not found")
    if isinstance(job, EmulatedResponse):
        return job
    observed = poll(call, job)
    if isinstance(observed, EmulatedResponse):
        return observed
    data: dict[str, Any] = {
        "id": job.id,
        "status": _STATUS.get(observed.phase, "failed"),
        "created_at": int(job.created_at),
        "video_url": None,
        "thumbnail_url": None,
        "duration": None,
        "error": None,
        "callback_id": None,
    }
    if observed.phase == "completed":
        data |= {"video_url": file_url(call, job), "duration": job.seconds}
    elif observed.phase == "failed":
        data["error"] = {"code": 40_119, "message": "Video generation failed (emulated).", "detail": None}
    body = {"code": 100, "data": data, "message": "Success"}
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=dump(body)))


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/v2/video/generate", generate, methods=["POST"]),
        Route(f"{PREFIX}/v1/video_agent/generate", agent_generate, methods=["POST"]),
        Route(f"{PREFIX}/v1/video_status.get", status, methods=["GET"]),
    ]
