"""HTTP steps every video wire shares: create a job from a request, look one up for a poll
or a download (with the live faults applied), and serve finished videos by URL.

Result URLs (fal ``video.url``, Runway ``output[0]``, HeyGen ``video_url``) are
``{emulator}/videos/{id}.mp4``, answered without auth like a provider's CDN link; Veo's
download needs ``x-goog-api-key`` and has its own route (``gemini_video``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import media, video
from sandbox.emulator.behaviour import Behaviour, parse_request_directives, strip_directives
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.transport import EmulatedResponse
from sandbox.emulator.video_jobs import (
    CONTENT_FAULT_KEYS,
    CREATE_FAULT_KEYS,
    PEEK,
    POLL_FAULT_KEYS,
    Observed,
    VideoJob,
    new_job,
    observe,
)

FILES_PATH = "/videos"


def create_job(
    call: Call, behaviour: Behaviour, *, wire: str, prompt: str, seconds: float, width: int, height: int
) -> VideoJob:
    """Keep a new job for ``call`` (whose ``behaviour`` came from ``resolve_create``)."""
    own = parse_request_directives(call.request.headers.get("x-emulator"), prompt)  # valid: resolve passed
    job = new_job(
        wire=wire,
        model=call.model,
        prompt=strip_directives(prompt),
        seconds=seconds,
        width=width,
        height=height,
        behaviour=behaviour,
        own=own,
    )
    call.state.videos.add(job)
    return job


def resolve_create(call: Call, prompt: str) -> Behaviour | EmulatedResponse:
    """The create call's behaviour, or its injected error (no job is made then)."""
    return call.resolve_or_error(prompt, counted=CREATE_FAULT_KEYS)


def lookup(call: Call, video_id: str, wire: str | None, *, not_found: str) -> VideoJob | EmulatedResponse:
    """The job, its model noted in the request log; 404 for an unknown or forgotten id."""
    job = call.state.videos.get(video_id, wire)
    if job is None:
        return call.error(404, not_found)
    call.entry.model = job.model
    if call.state.model_behaviour(job.model, counted=PEEK).overlay(job.own).video_forget:
        return call.error(404, not_found)
    return job


def poll(call: Call, job: VideoJob) -> Observed | EmulatedResponse:
    """A status poll's view of ``job``, or the injected poll error."""
    behaviour = call.state.model_behaviour(job.model, counted=POLL_FAULT_KEYS)
    observed = observe(job, behaviour)
    job.polls += 1
    if observed.behaviour.video_poll_status is not None:
        return call.error(observed.behaviour.video_poll_status)
    call.entry.behaviour = observed.behaviour.describe()
    return observed


def download_check(call: Call, job: VideoJob, *, not_ready: str) -> Behaviour | EmulatedResponse:
    """A content/result call on ``job``: the injected content error, or 404 until it is
    completed (as the providers answer), else the behaviour to answer with."""
    behaviour = call.state.model_behaviour(job.model, counted=CONTENT_FAULT_KEYS).overlay(job.own)
    if behaviour.video_content_status is not None:
        return call.error(behaviour.video_content_status)
    if observe(job, behaviour).phase != "completed":
        return call.error(404, not_ready)
    job.downloads += 1
    return behaviour.without_faults()


async def mp4(call: Call, job: VideoJob, behaviour: Behaviour) -> EmulatedResponse:
    try:
        data = await video.video(job.prompt, job.seconds, job.width, job.height)
    except media.MediaError as exc:
        return call.error(500, f"emulator could not render the video: {exc}")
    response = EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=data, media_type=video.CONTENT_TYPE)
    return call.finish(response)


def file_url(call: Call, job: VideoJob) -> str:
    return f"{str(call.request.base_url).rstrip('/')}{FILES_PATH}/{job.id}.mp4"


def _cdn_error(status: int, message: str, retry_after: float | None) -> dict[str, object]:
    return {"error": message}


async def video_file(request: Request) -> EmulatedResponse:
    """``GET /videos/{id}.mp4``: a finished video (any wire), no auth."""
    call = await begin(request, "video-cdn", _cdn_error)
    job = lookup(call, request.path_params["video_id"], None, not_found="no such video")
    if isinstance(job, EmulatedResponse):
        return job
    checked = download_check(call, job, not_ready="the video is not ready")
    if isinstance(checked, EmulatedResponse):
        return checked
    return await mp4(call, job, checked)


def routes() -> list[Route]:
    return [Route(f"{FILES_PATH}/{{video_id}}.mp4", video_file, methods=["GET"])]
