"""OpenAI's Videos API (sora) under the OpenAI prefix (``/openai/v1`` = LiteLLM ``api_base``).

``POST {b}/videos`` (multipart, as the SDK and LiteLLM send it, or a form or JSON): ``model``,
``prompt``, ``seconds`` ("4", "8", "12"), ``size`` (720x1280, 1280x720, 1024x1792,
1792x1024), optional ``input_reference`` file; answers a VideoObject ``queued``.
``GET {b}/videos/{id}``: status (queued / in_progress with ``progress`` 0-100 / completed /
failed with ``error``). ``GET {b}/videos/{id}/content``: the MP4 (404 before completion).
``DELETE {b}/videos/{id}``: the only cancel OpenAI has; the video (running or not) is gone
and answers 404 afterwards. ``GET {b}/videos``: the list. Bearer auth, OpenAI error shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, bearer_token, begin
from sandbox.emulator.media_http import read_form
from sandbox.emulator.openai_wire import PREFIXES, error_shape
from sandbox.emulator.transport import EmulatedResponse, dump
from sandbox.emulator.video_http import create_job, download_check, lookup, mp4, poll, resolve_create
from sandbox.emulator.video_jobs import PEEK, Observed, VideoJob, observe

WIRE = "openai"
PROVIDER = "openai"
PREFIX = PREFIXES["openai"]
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
DEFAULT_MODEL = "sora-2"
ID_PREFIX = "video_"


def _bad(call: Call, message: str, param: str) -> EmulatedResponse:
    body = error_shape(400, message, None)
    body["error"]["param"] = param
    return call.finish(EmulatedResponse(behaviour=Behaviour(), status=400, headers=call.headers(), body=dump(body)))


def _unauthorized(call: Call) -> EmulatedResponse | None:
    if bearer_token(call.request) is None:
        return call.error(401, "You didn't provide an API key (emulated: missing Authorization: Bearer).")
    return None


def video_object(job: VideoJob, observed: Observed | None = None) -> dict[str, Any]:
    phase, percent = (observed.phase, observed.percent) if observed is not None else ("queued", 0)
    out: dict[str, Any] = {
        "id": ID_PREFIX + job.id,
        "object": "video",
        "model": job.model,
        "status": phase,
        "progress": percent,
        "created_at": int(job.created_at),
        "completed_at": job.completed_at() if phase == "completed" else None,
        "expires_at": int(job.created_at) + 86_400 if phase == "completed" else None,
        "seconds": f"{job.seconds:g}",
        "size": job.size,
        "remixed_from_video_id": None,
        "error": None,
    }
    if phase == "failed":
        out["error"] = {"code": "video_generation_failed", "message": "Video generation failed (emulated)."}
    return out


def _ok(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=dump(body)))


async def create(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    failed = _unauthorized(call)
    if failed is not None:
        return failed
    raw = await request.body()
    form = read_form(call, raw)
    fields: dict[str, Any] = {}
    if form is not None:
        fields = {name: form.get(name) for name in ("model", "prompt", "seconds", "size")}
    elif request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = dict(parse_qsl(raw.decode(errors="replace")))
        call.entry.body = fields
    elif isinstance(call.body, dict):
        fields = call.body
    else:
        return call.error(400, "the body must be multipart/form-data or JSON")
    model = str(fields.get("model") or DEFAULT_MODEL)
    call.entry.model = model
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _bad(call, "Missing required parameter: 'prompt'.", "prompt")
    seconds = str(fields.get("seconds") or "4")
    if seconds not in SECONDS:
        return _bad(call, f"Invalid value: '{seconds}'. Supported values are: {', '.join(SECONDS)}.", "seconds")
    size = str(fields.get("size") or SIZES[0])
    if size not in SIZES:
        return _bad(call, f"Invalid value: '{size}'. Supported values are: {', '.join(SIZES)}.", "size")
    behaviour = resolve_create(call, prompt)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    width, height = (int(side) for side in size.split("x"))
    job = create_job(call, behaviour, wire=WIRE, prompt=prompt, seconds=float(seconds), width=width, height=height)
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(video_object(job))))


async def _job(call: Call) -> VideoJob | EmulatedResponse:
    failed = _unauthorized(call)
    if failed is not None:
        return failed
    video_id: str = call.request.path_params["video_id"]
    message = f"Video with id '{video_id}' not found."
    if not video_id.startswith(ID_PREFIX):
        return call.error(404, message)
    return lookup(call, video_id.removeprefix(ID_PREFIX), WIRE, not_found=message)


async def retrieve(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    job = await _job(call)
    if isinstance(job, EmulatedResponse):
        return job
    observed = poll(call, job)
    if isinstance(observed, EmulatedResponse):
        return observed
    return _ok(call, video_object(job, observed))


async def content(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    job = await _job(call)
    if isinstance(job, EmulatedResponse):
        return job
    variant = request.query_params.get("variant") or "video"
    if variant != "video":
        return _bad(call, f"Invalid value: '{variant}'. The emulator serves only the 'video' variant.", "variant")
    checked = download_check(call, job, not_ready=f"Video with id 'video_{job.id}' is not completed yet.")
    if isinstance(checked, EmulatedResponse):
        return checked
    return await mp4(call, job, checked)


async def delete(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    job = await _job(call)
    if isinstance(job, EmulatedResponse):
        return job
    call.state.videos.remove(job.id)
    return _ok(call, {"id": ID_PREFIX + job.id, "object": "video.deleted", "deleted": True})


async def list_videos(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    failed = _unauthorized(call)
    if failed is not None:
        return failed
    data = [video_object(job, poll_quietly(call, job)) for job in reversed(call.state.videos.of_wire(WIRE))]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return _ok(call, {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False})


def poll_quietly(call: Call, job: VideoJob) -> Observed:
    """A listed video's state (the list is not a poll: no poll faults)."""
    return observe(job, call.state.model_behaviour(job.model, counted=PEEK))


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/videos", create, methods=["POST"]),
        Route(f"{PREFIX}/videos", list_videos, methods=["GET"]),
        Route(f"{PREFIX}/videos/{{video_id}}", retrieve, methods=["GET"]),
        Route(f"{PREFIX}/videos/{{video_id}}", delete, methods=["DELETE"]),
        Route(f"{PREFIX}/videos/{{video_id}}/content", content, methods=["GET"]),
    ]
