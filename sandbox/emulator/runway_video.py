"""Runway's video API under ``/runway/v1`` (= LiteLLM ``api_base``, which ends in /v1).

- ``POST {b}/text_to_video`` ``{model, promptText, ratio "1280:720", duration}`` and
  ``POST {b}/image_to_video`` (``promptImage`` required; ``gen4_turbo`` takes only this one);
  Bearer plus ``X-Runway-Version``; answers ``{id}``.
- ``GET {b}/tasks/{id}``: ``PENDING`` -> ``RUNNING`` (``progress`` 0..1) -> ``SUCCEEDED``
  (``output: [url]``, the emulator's ``/videos/{id}.mp4``, fetched without auth), or
  ``FAILED`` (``failure``, ``failureCode``) / ``CANCELLED``.
- ``DELETE {b}/tasks/{id}``: Runway's cancel (a running task ends ``CANCELLED``) and delete
  (a finished one is gone: 404 afterwards); 204.
- ``DELETE {b}/tasks/{id}/cancel`` is where LiteLLM 1.106.12 sends a video delete; Runway has
  no such path and answers 404, as here.
Errors are ``{"error": message}``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import video
from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, bearer_token, begin
from sandbox.emulator.transport import EmulatedResponse, dump
from sandbox.emulator.video_http import create_job, file_url, lookup, poll, resolve_create
from sandbox.emulator.video_jobs import VideoJob

WIRE = "runway"
PROVIDER = "runway"
PREFIX = "/runway/v1"
DEFAULT_RATIO = "1280:720"
DEFAULT_SECONDS = 5
DURATIONS = range(2, 11)
IMAGE_ONLY_MODELS = frozenset({"gen4_turbo", "gen3a_turbo"})
_RATIO_RE = re.compile(r"(\d{2,4}):(\d{2,4})")
_STATUS = {"queued": "PENDING", "in_progress": "RUNNING", "completed": "SUCCEEDED", "failed": "FAILED"}


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"error": message}


def _authorized(call: Call) -> EmulatedResponse | None:
    if bearer_token(call.request) is None:
        return call.error(401, "Invalid API key (emulated: expected Authorization: Bearer <key>)")
    if not call.request.headers.get("x-runway-version"):
        return call.error(400, "The X-Runway-Version header is required")
    return None


def _ok(call: Call, body: dict[str, Any] | None, status: int = 200) -> EmulatedResponse:
    raw = dump(body) if body is not None else b""
    return call.finish(EmulatedResponse(behaviour=Behaviour(), status=status, headers=call.headers(), body=raw))


def _create(endpoint: str) -> Callable[[Request], Awaitable[EmulatedResponse]]:
    async def create(request: Request) -> EmulatedResponse:
        call = await begin(request, PROVIDER, error_shape)
        failed = _authorized(call)
        if failed is not None:
            return failed
        body = call.json_body
        if body is None:
            return call.error(400, "Invalid JSON body")
        problem = _problem(endpoint, call.model, body)
        if problem is not None:
            return call.error(400, problem)
        prompt = str(body.get("promptText") or "")
        behaviour = resolve_create(call, prompt)
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        match = _RATIO_RE.fullmatch(str(body.get("ratio") or DEFAULT_RATIO))
        assert match is not None  # checked by _problem
        width, height = int(match.group(1)), int(match.group(2))
        seconds = float(body.get("duration") or DEFAULT_SECONDS)
        job = create_job(call, behaviour, wire=WIRE, prompt=prompt, seconds=seconds, width=width, height=height)
        return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump({"id": job.id})))

    return create


def _problem(endpoint: str, model: str, body: dict[str, Any]) -> str | None:
    if not model:
        return "model: Required"
    has_image = body.get("promptImage") is not None
    if endpoint == "text_to_video":
        if model in IMAGE_ONLY_MODELS:
            return f"model: {model} is not available for text_to_video; use image_to_video"
        if has_image:
            return "promptImage: Unrecognized key for text_to_video"
        if not isinstance(body.get("promptText"), str) or not body["promptText"].strip():
            return "promptText: Required"
    elif not has_image:
        return "promptImage: Required"
    ratio = str(body.get("ratio") or DEFAULT_RATIO)
    match = _RATIO_RE.fullmatch(ratio)
    if match is None or int(match.group(1)) % 2 or int(match.group(2)) % 2:
        return f"ratio: Invalid ratio {ratio!r}"
    duration = body.get("duration", DEFAULT_SECONDS)
    if not isinstance(duration, int) or duration not in DURATIONS:
        return f"duration: must be an integer from {DURATIONS.start} to {DURATIONS.stop - 1}"
    if int(match.group(1)) > video.MAX_SIDE or int(match.group(2)) > video.MAX_SIDE:
        return f"ratio: Invalid ratio {ratio!r}"
    return None


async def _job(request: Request) -> tuple[Call, VideoJob | EmulatedResponse]:
    call = await begin(request, PROVIDER, error_shape)
    failed = _authorized(call)
    if failed is not None:
        return call, failed
    return call, lookup(call, request.path_params["task_id"], WIRE, not_found="Task not found")


def _created(job: VideoJob) -> str:
    return datetime.fromtimestamp(job.created_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def task(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    observed = poll(call, job)
    if isinstance(observed, EmulatedResponse):
        return observed
    out: dict[str, Any] = {"id": job.id, "status": _STATUS.get(observed.phase, "CANCELLED"), "createdAt": _created(job)}
    if observed.phase == "in_progress":
        out["progress"] = round(observed.progress, 3)
    elif observed.phase == "completed":
        # Runway's output URL is the CDN link; the content faults act on that download.
        out["output"] = [file_url(call, job)]
    elif observed.phase == "failed":
        out |= {"failure": "Video generation failed (emulated).", "failureCode": "INTERNAL"}
    return _ok(call, out)


async def delete(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    if job.progress()[0] in ("queued", "in_progress"):
        job.canceled = True
    else:
        call.state.videos.remove(job.id)
    return _ok(call, None, status=204)


async def no_cancel_path(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    return call.error(404, "Not found (Runway cancels with DELETE /v1/tasks/{id})")


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/text_to_video", _create("text_to_video"), methods=["POST"]),
        Route(f"{PREFIX}/image_to_video", _create("image_to_video"), methods=["POST"]),
        Route(f"{PREFIX}/tasks/{{task_id}}", task, methods=["GET"]),
        Route(f"{PREFIX}/tasks/{{task_id}}", delete, methods=["DELETE"]),
        Route(f"{PREFIX}/tasks/{{task_id}}/cancel", no_cancel_path, methods=["DELETE", "POST"]),
    ]
