"""fal's queue API for video models (fal's own and Pika's), under ``/fal`` (= LiteLLM ``api_base``).

- Submit: ``POST /fal/{model path}`` (``fal_wire`` hands paths naming a video model here)
  with ``{prompt, duration?, resolution?, aspect_ratio?, image_url?...}``; answers
  ``{request_id, response_url, status_url, cancel_url, queue_position}``.
- Status: ``GET /fal/{app}/requests/{id}/status`` where ``{app}`` is the model path's first two
  segments (``fal-ai/pika``): ``IN_QUEUE`` (``queue_position``) / ``IN_PROGRESS`` (``logs``) /
  ``COMPLETED``. fal reports no progress figure.
- Result: ``GET /fal/{app}/requests/{id}``: ``{video: {url, content_type, file_name,
  file_size}, seed}``; the URL is the emulator's ``/videos/{id}.mp4``, fetched without auth.
  Before completion: 400 "still in progress"; a failed video: 422 with ``detail``.
- Cancel: ``PUT /fal/{app}/requests/{id}/cancel`` (fal's API; LiteLLM 1.106.12 has no fal
  cancel, so a worker cannot reach it through the proxy).

Size: ``resolution`` gives the short side (480p, 720p, 1080p, 4k; MiniMax's 768P, 2K, 4K),
``aspect_ratio`` the shape (default 720p, 16:9); ``duration`` in seconds (default 5).
Image-to-video apps need ``image_url`` (422 without).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import video
from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.transport import EmulatedResponse, dump
from sandbox.emulator.video_http import create_job, download_check, file_url, lookup, poll, resolve_create
from sandbox.emulator.video_jobs import PEEK, VideoJob, observe

WIRE = "fal"
PROVIDER = "fal"
PREFIX = "/fal"
SHORT_SIDES = {"480p": 480, "720p": 720, "768p": 768, "1080p": 1080, "2k": 1440, "4k": 2160}
DEFAULT_SHORT_SIDE = 720
DEFAULT_SECONDS = 5.0
_RATIO_RE = re.compile(r"(\d{1,2}):(\d{1,2})")


def is_video_model(path: str) -> bool:
    """fal's video apps all name it (``…/text-to-video``, ``…/image-to-video``)."""
    return "video" in path.lower()


def app_path(model: str) -> str:
    """The queue's app id: the first two path segments (LiteLLM's ``_queue_request_base_path``)."""
    return "/".join(model.split("/")[:2])


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"detail": message}


class _BadInput(ValueError):
    pass


def _size(body: dict[str, Any]) -> tuple[int, int]:
    resolution = body.get("resolution")
    short = DEFAULT_SHORT_SIDE
    if resolution is not None:
        if str(resolution).lower() not in SHORT_SIDES:
            raise _BadInput(f"resolution {resolution!r} is not one of {', '.join(SHORT_SIDES)}")
        short = SHORT_SIDES[str(resolution).lower()]
    ratio = str(body.get("aspect_ratio") or "16:9")
    match = _RATIO_RE.fullmatch("16:9" if ratio == "auto" else ratio)
    if match is None:
        raise _BadInput(f"aspect_ratio {ratio!r} must look like 16:9")
    a, b = int(match.group(1)), int(match.group(2))
    if a >= b:
        return video.even(short * a / b), video.even(short)
    return video.even(short), video.even(short * b / a)


def _seconds(body: dict[str, Any]) -> float:
    raw = body.get("duration")
    if raw is None or raw == "auto":
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise _BadInput(f"duration {raw!r} is not a number of seconds") from None
    if not 1 <= seconds <= video.MAX_SECONDS:
        raise _BadInput(f"duration must be between 1 and {video.MAX_SECONDS:g} seconds")
    return seconds


def _authorized(call: Call) -> EmulatedResponse | None:
    scheme, _, key = call.request.headers.get("authorization", "").partition(" ")
    if scheme != "Key" or not key.strip():
        return call.error(401, "No user found for Key ID and Secret (emulated: expected Authorization: Key <key>)")
    return None


def _urls(call: Call, job: VideoJob) -> dict[str, str]:
    base = f"{str(call.request.base_url).rstrip('/')}{PREFIX}/{app_path(job.model)}/requests/{job.id}"
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}


def _ok(call: Call, body: dict[str, Any], status: int = 200) -> EmulatedResponse:
    return call.finish(EmulatedResponse(behaviour=Behaviour(), status=status, headers=call.headers(), body=dump(body)))


async def submit(call: Call) -> EmulatedResponse:
    """``POST /fal/{model path}`` for a video model (called by ``fal_wire.generate``)."""
    failed = _authorized(call)
    if failed is not None:
        return failed
    body = call.json_body
    if body is None or not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return call.error(422, "prompt: field required")
    if "image-to-video" in call.model and not (body.get("image_url") or body.get("reference_image_urls")):
        return call.error(422, "image_url: field required")
    try:
        width, height = _size(body)
        seconds = _seconds(body)
    except _BadInput as exc:
        return call.error(422, str(exc))
    behaviour = resolve_create(call, body["prompt"])
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    job = create_job(call, behaviour, wire=WIRE, prompt=body["prompt"], seconds=seconds, width=width, height=height)
    out = {"request_id": job.id, **_urls(call, job), "queue_position": 0}
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


async def _job(request: Request) -> tuple[Call, VideoJob | EmulatedResponse]:
    call = await begin(request, PROVIDER, error_shape)
    failed = _authorized(call)
    if failed is not None:
        return call, failed
    request_id: str = request.path_params["request_id"]
    job = lookup(call, request_id, WIRE, not_found=f"Request {request_id} not found")
    if not isinstance(job, EmulatedResponse) and app_path(job.model) != request.path_params["app"]:
        return call, call.error(404, f"Request {request_id} not found")
    return call, job


async def status(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    observed = poll(call, job)
    if isinstance(observed, EmulatedResponse):
        return observed
    out: dict[str, Any] = {"request_id": job.id, **_urls(call, job)}
    if observed.phase == "queued":
        out |= {"status": "IN_QUEUE", "queue_position": 0}
    elif observed.phase == "in_progress":
        out |= {"status": "IN_PROGRESS", "logs": [{"message": f"{observed.percent}%", "level": "INFO"}]}
    else:  # completed, failed (the result says which), canceled
        out |= {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": job.generation_s}}
    return _ok(call, out)


async def result(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    # Not a poll (LiteLLM fetches the result inside the status call that sees COMPLETED):
    # no poll faults here, the content faults instead.
    phase = observe(job, call.state.model_behaviour(job.model, counted=PEEK)).phase
    if phase == "failed":
        return call.error(422, "Video generation failed (emulated).")
    if phase == "canceled":
        return call.error(400, "Request was cancelled")
    if phase != "completed":
        return call.error(400, "Request is still in progress")
    checked = download_check(call, job, not_ready="Request is still in progress")
    if isinstance(checked, EmulatedResponse):
        return checked
    data = await video.video(job.prompt, job.seconds, job.width, job.height)
    file = {"url": file_url(call, job), "content_type": video.CONTENT_TYPE, "file_name": "output.mp4"}
    return _ok(call, {"video": {**file, "file_size": len(data)}, "seed": int(job.id[:8], 16)})


async def cancel(request: Request) -> EmulatedResponse:
    call, job = await _job(request)
    if isinstance(job, EmulatedResponse):
        return job
    if job.progress()[0] == "completed":
        return _ok(call, {"status": "ALREADY_COMPLETED"}, status=400)
    job.canceled = True
    return _ok(call, {"status": "CANCELLATION_REQUESTED"}, status=202)


def routes() -> list[Route]:
    base = f"{PREFIX}/{{app:path}}/requests/{{request_id}}"
    return [
        Route(f"{base}/status", status, methods=["GET"]),
        Route(f"{base}/cancel", cancel, methods=["PUT"]),
        Route(base, result, methods=["GET"]),
    ]
