"""Veo on the Gemini API: long-running operations under ``/gemini/v1beta`` (``gemini_wire``
routes here; a Veo deployment's ``api_base`` is ``/gemini``, without /v1beta).

- ``POST …/models/{m}:predictLongRunning`` ``{instances: [{prompt, image?}], parameters:
  {aspectRatio, durationSeconds, resolution}}`` -> ``{name: "models/{m}/operations/{id}"}``.
- ``GET …/models/{m}/operations/{id}``: ``{name, done: false}``, then ``{name, done: true,
  response: {generateVideoResponse: {generatedSamples: [{video: {uri}}]}}}``, or ``done: true``
  with ``error`` for a failed video. Veo reports no progress.
- ``GET …/files/{id}:download?alt=media``: the MP4; needs ``x-goog-api-key`` like every call.

Size: ``resolution`` (720p, 1080p, 4k) is the short side, ``aspectRatio`` (16:9, 9:16) the
shape; ``durationSeconds`` 4, 6 or 8 (default 8).
"""

from __future__ import annotations

from typing import Any

from sandbox.emulator import video
from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call
from sandbox.emulator.transport import EmulatedResponse, dump
from sandbox.emulator.video_http import create_job, download_check, lookup, mp4, poll, resolve_create

WIRE = "veo"
SHORT_SIDES = {"720p": 720, "1080p": 1080, "4k": 2160}
ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (4, 6, 8)
DEFAULT_SECONDS = 8
OPERATIONS = "/operations/"
DOWNLOAD_SUFFIX = ":download"


def _invalid(call: Call, message: str) -> EmulatedResponse:
    return call.error(400, message)


def _size(parameters: dict[str, Any]) -> tuple[int, int] | str:
    ratio = parameters.get("aspectRatio") or "16:9"
    if ratio not in ASPECT_RATIOS:
        return f"aspectRatio {ratio!r} is not supported; use one of {', '.join(ASPECT_RATIOS)}"
    resolution = str(parameters.get("resolution") or "720p").lower()
    if resolution not in SHORT_SIDES:
        return f"resolution {resolution!r} is not supported; use one of {', '.join(SHORT_SIDES)}"
    short = SHORT_SIDES[resolution]
    long = video.even(short * 16 / 9)
    return (long, short) if ratio == "16:9" else (short, long)


async def create(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        return _invalid(call, "* PredictLongRunningRequest.instances: instances is required")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _invalid(call, "* instances[0].prompt: prompt is required")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        return _invalid(call, "* parameters must be an object")
    size = _size(parameters)
    if isinstance(size, str):
        return _invalid(call, size)
    seconds = parameters.get("durationSeconds", DEFAULT_SECONDS)
    if seconds not in DURATIONS:
        return _invalid(call, f"durationSeconds {seconds!r} is out of bound; use one of {DURATIONS}")
    behaviour = resolve_create(call, prompt)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    width, height = size
    job = create_job(call, behaviour, wire=WIRE, prompt=prompt, seconds=float(seconds), width=width, height=height)
    out = {"name": f"models/{job.model}{OPERATIONS}{job.id}"}
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


def _ok(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=dump(body)))


async def operation(call: Call, rest: str) -> EmulatedResponse:
    """``GET …/models/{rest}`` where ``rest`` is ``{model}/operations/{id}``."""
    model, _, operation_id = rest.partition(OPERATIONS)
    name = f"models/{rest}"
    job = lookup(call, operation_id, WIRE, not_found=f"Operation {name} not found.")
    if isinstance(job, EmulatedResponse):
        return job
    if job.model != model.removeprefix("models/"):
        return call.error(404, f"Operation {name} not found.")
    observed = poll(call, job)
    if isinstance(observed, EmulatedResponse):
        return observed
    if observed.phase in ("queued", "in_progress"):
        return _ok(call, {"name": name, "done": False})
    if observed.phase == "failed":
        error = {"code": 13, "message": "Video generation failed (emulated).", "status": "INTERNAL"}
        return _ok(call, {"name": name, "done": True, "error": error})
    uri = f"{str(call.request.base_url).rstrip('/')}/gemini/v1beta/files/{job.id}{DOWNLOAD_SUFFIX}?alt=media"
    response = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
        "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]},
    }
    return _ok(call, {"name": name, "done": True, "response": response})


async def download(call: Call, file_name: str) -> EmulatedResponse:
    """``GET …/files/{id}:download?alt=media`` (the caller checked the key)."""
    job = lookup(call, file_name.removesuffix(DOWNLOAD_SUFFIX), WIRE, not_found=f"File files/{file_name} not found.")
    if isinstance(job, EmulatedResponse):
        return job
    checked = download_check(call, job, not_ready=f"File files/{job.id} is not ready.")
    if isinstance(checked, EmulatedResponse):
        return checked
    return await mp4(call, job, checked)
