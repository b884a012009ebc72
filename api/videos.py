"""OpenAI's Videos API (`/api/videos`) over jobs of task `video_generate`: the shapes the
`openai` SDK's `client.videos` speaks, the job id as the video id.

A create is a job on the media class, its input checked like any `video_generate` job's
(catalog.inputs) with errors named by the body's fields (`input.image` is the body's
`input_reference`), and listed under its owner in the same transaction
(queues.video_index). The video object is read from the job record: `processing` is
`in_progress`, `succeeded` is `completed`, `failed` and `canceled` (a cancel through the jobs
API) are `failed` with the job's error; `progress` is the job's, in percent. The record says
`seconds` and `size` from the job's output once it has one, else from the request while the
job still holds it; `model` from the output, else the model the provider's video is being made
with (queues.videos: a fallback may have made it), else the head of the brain's chain.

Deleting a video ends it as a video: a running one is canceled through the jobs' cancel path
(the worker stops polling and forwards the cancel where the provider can take one), a
finished one loses its job record, its provider record and its artifacts; either way it leaves its owner's list, and
its id is then a 404 here. Another key's video, like an expired one, is a 404.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.artifact_serving import artifact_response
from api.body import split_validation_error
from api.errors import Conflict, InvalidRequest, NotFound, Unprocessable, UnsupportedMedia, artifact_error
from api.file_service import Upload, discard, owned_file, record_upload
from api.media_chain import checked_input, select_for_media
from api.media_jobs import named_in_body, steering, submit_media_job
from api.state import AppState
from api.video_form import FILE_FIELD, read_video_body
from api.webhook_service import WebhookRequest, checked_webhook
from artifacts import ArtifactError
from queues import store, video_index, videos
from queues.jobs import JobRecord, JobWebhook, record_from_hash
from queues.video_index import VIDEO_TASK

# Body field -> the job input's field (`named_in_body` renames an input error back).
VIDEO_INPUT_FIELDS = {
    "prompt": "prompt",
    "seconds": "seconds",
    "size": "size",
    "aspect_ratio": "aspect_ratio",
    FILE_FIELD: "image",
    "avatar_id": "avatar_id",
    "voice_id": "voice_id",
}
# What the stored `input_reference` upload is for, in OpenAI's Files words.
REFERENCE_PURPOSE = "vision"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
VARIANTS = ("video", "thumbnail", "spritesheet")  # OpenAI's; only `video` is made here
_STATUS = {
    "queued": "queued",
    "processing": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "canceled": "failed",
}
_json = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class StoredVideo:
    record: JobRecord
    requested: dict[str, Any]  # the job's input, while the job holds it
    chain_head: str | None  # the model the brain put first
    making: str | None = None  # the model the provider's video was created with (after a fallback)


async def create(state: AppState, request: Request, owner: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new video job; its video object and the `X-MPC-*` headers."""
    body = await read_video_body(state, request)
    fields, upload = body.fields, body.upload
    try:
        image = await _image(state, owner, fields.get(FILE_FIELD), upload)
        value: dict[str, Any] = {
            name: fields[field]
            for field, name in VIDEO_INPUT_FIELDS.items()
            if field != FILE_FIELD and fields.get(field) is not None
        }
        if image is not None:
            value["image"] = image
        try:
            job_input = checked_input(VIDEO_TASK, value, prefix="")
        except Unprocessable as exc:
            raise named_in_body(exc, VIDEO_INPUT_FIELDS) from None
        try:
            selection = select_for_media(state, VIDEO_TASK, job_input, steering(VIDEO_TASK, fields))
        except Unprocessable as exc:  # the chosen model's limits name the job's `input.seconds`
            raise named_in_body(exc, VIDEO_INPUT_FIELDS, prefix="input.") from None
        webhook = _webhook(state, fields.get("webhook"))
        if upload is not None:
            await record_upload(state, owner, upload, REFERENCE_PURPOSE)
    except BaseException:
        if upload is not None:
            await discard(state, upload)
        raise
    job = await submit_media_job(
        state,
        request,
        owner,
        VIDEO_TASK,
        job_input,
        selection,
        VIDEO_INPUT_FIELDS,
        also_writes=video_index.listing(owner, state.retention),
        webhook=webhook,
    )
    requested = msgspec.to_builtins(job_input)
    video = StoredVideo(job.record, requested if isinstance(requested, dict) else {}, selection.model.id)
    return video_object(video), {**job.headers(), "Location": f"/api/videos/{job.record.id}"}


async def _image(state: AppState, owner: str, reference: Any, upload: Upload | None) -> dict[str, str] | None:
    """The job input's `image` from the body's `input_reference`: an uploaded file, or an
    object naming an uploaded file (`file_id`) or an https URL (`image_url`)."""
    if upload is not None:
        if reference is not None:
            raise InvalidRequest(
                f"Send '{FILE_FIELD}' as a file or as an object, not both.", code="invalid_value", param=FILE_FIELD
            )
        _must_be_image(upload.artifact.content_type, FILE_FIELD)
        return {"file_id": upload.file_id}
    if reference is None:
        return None
    if not isinstance(reference, dict) or len(reference) != 1 or not reference.keys() <= {"file_id", "image_url"}:
        raise InvalidRequest(
            f"'{FILE_FIELD}' must be an image file, or an object with one of 'file_id' or 'image_url'.",
            code="invalid_value",
            param=FILE_FIELD,
        )
    [(kind, target)] = reference.items()
    param = f"{FILE_FIELD}.{kind}"
    if not isinstance(target, str) or not target:
        raise InvalidRequest(f"'{param}' must be a string.", code="invalid_value", param=param)
    if kind == "file_id":
        record = await owned_file(state, owner, target, param=param)
        _must_be_image(record.content_type, param)
        return {"file_id": target}
    if not target.lower().startswith("https://"):
        raise InvalidRequest(
            f"'{param}' must be an https:// URL (send other images as a file, or upload them to /api/files).",
            code="invalid_value",
            param=param,
        )
    return {"url": target}


def _webhook(state: AppState, value: Any) -> JobWebhook | None:
    """The extension field `webhook` ({url, events?}) as `POST /api/jobs` takes it."""
    if value is None:
        return None
    try:
        request = msgspec.convert(value, WebhookRequest)
    except msgspec.ValidationError as exc:
        problem, path = split_validation_error(exc)
        param = f"webhook.{path}" if path else "webhook"
        raise Unprocessable(f"{problem} (at '{param}')", code="invalid_value", param=param) from None
    return checked_webhook(state, request)


def _must_be_image(content_type: str, param: str) -> None:
    if not content_type.startswith("image/"):
        raise UnsupportedMedia(
            f"'{param}' must be an image (PNG, JPEG, WebP or GIF); this file is {content_type}.",
            code="unsupported_media_type",
            param=param,
        )


async def owned_video(state: AppState, owner: str, video_id: str) -> StoredVideo:
    """One of `owner`'s videos; 404 for any other id (another key's, deleted, expired)."""
    raw = None
    if video_id.startswith("job_") and len(video_id) <= 64:
        raw = await video_index.listed_job(state.redis, owner, video_id)
    video = None if raw is None else _stored(raw)
    if video is None or video.record.owner != owner:
        if raw is not None:  # listed, but its record has expired or gone
            await video_index.unlist(state.redis, owner, [video_id])
        raise NotFound(f"No video with id '{video_id[:64]}'.", code="video_not_found", param="video_id")
    if not video.record.is_final:
        provider_side = await videos.get(state.redis, video_id)
        if provider_side is not None:
            return replace(video, making=provider_side.model)
    return video


def _stored(raw: dict[bytes, bytes]) -> StoredVideo | None:
    record = record_from_hash(raw, now=time.time())
    if record is None or record.task != VIDEO_TASK or record.status == "expired":
        return None
    requested = _json.decode(raw[b"input"]) if b"input" in raw else None
    params = _json.decode(raw[b"params"]) if b"params" in raw else None
    chain = params.get("chain") if isinstance(params, dict) else None
    head = chain[0].get("id") if isinstance(chain, list) and chain and isinstance(chain[0], dict) else None
    return StoredVideo(record, requested if isinstance(requested, dict) else {}, head)


def video_object(video: StoredVideo) -> dict[str, Any]:
    """OpenAI's video object for a video job."""
    record = video.record
    output = record.output if isinstance(record.output, dict) else {}
    status = _STATUS.get(record.status, "failed")
    progress = 100 if status == "completed" else max(0, min(99, round(record.progress * 100)))
    error = None
    if record.status == "canceled":
        error = {"code": "canceled", "message": "The video was canceled before it was finished."}
    elif record.status == "failed":
        error = {
            "code": (record.error.code if record.error else None) or "failed",
            "message": record.error.message if record.error else "The video could not be made.",
        }
    return {
        "id": record.id,
        "object": "video",
        "model": output.get("model") or video.making or video.chain_head,
        "status": status,
        "progress": progress,
        "created_at": int(record.created_at),
        "completed_at": int(record.finished_at) if record.finished_at is not None else None,
        "expires_at": int(record.expires_at) if record.expires_at is not None else None,
        "seconds": _seconds_text(output.get("seconds", video.requested.get("seconds"))),
        "size": output.get("size") or video.requested.get("size"),
        "error": error,
    }


def _seconds_text(seconds: Any) -> str | None:
    """OpenAI's `seconds` is a string ("4"); a measured length keeps its fraction ("4.04")."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    text = f"{float(seconds):.2f}".rstrip("0").rstrip(".")
    return text or "0"


async def content(state: AppState, request: Request, owner: str, video_id: str, variant: str | None) -> Response:
    """The finished video's MP4 from the artifact store (Range, ETag, If-None-Match)."""
    chosen = variant or "video"
    if chosen not in VARIANTS:
        raise InvalidRequest(f"'variant' must be one of {', '.join(VARIANTS)}.", code="invalid_value", param="variant")
    video = await owned_video(state, owner, video_id)
    if chosen != "video":
        raise NotFound(f"No {chosen} is made for videos here.", code="variant_not_available", param="variant")
    record = video.record
    if record.status != "succeeded":
        state_now = _STATUS.get(record.status, record.status)
        raise Conflict(f"The video is {state_now}: its content exists once it is completed.", code="video_not_ready")
    name = _video_artifact(record.output)
    if name is None:
        raise NotFound("The video's content is gone.", code="artifact_not_found")
    extension = name.rsplit(".", 1)[-1] if "." in name else "mp4"
    return await artifact_response(
        state.store, video_id, name, request.headers, disposition="attachment", filename=f"{video_id}.{extension}"
    )


def _video_artifact(output: Any) -> str | None:
    listed = output.get("artifacts") if isinstance(output, dict) else None
    for entry in listed if isinstance(listed, list) else ():
        if isinstance(entry, dict) and str(entry.get("content_type", "")).startswith("video/"):
            name = entry.get("name")
            return name if isinstance(name, str) else None
    return None


async def delete(state: AppState, owner: str, video_id: str) -> dict[str, Any]:
    """Cancel a running video, or delete a finished one's record and artifacts; unlisted either way."""
    record = (await owned_video(state, owner, video_id)).record
    if not record.is_final:
        after = await store.request_cancel(state.redis, video_id, retention=state.retention)
        if after is None or after.status not in ("succeeded", "failed"):
            await video_index.unlist(state.redis, owner, [video_id])
            return _deleted(video_id)
        record = after  # it finished meanwhile: delete it as a finished video
    await _delete_artifacts(state, video_id, record.output)
    await video_index.delete_finished(state.redis, owner, video_id)
    await videos.delete(state.redis, video_id)  # the provider's ids, kept for a resumed attempt
    return _deleted(video_id)


async def _delete_artifacts(state: AppState, job_id: str, output: Any) -> None:
    listed = output.get("artifacts") if isinstance(output, dict) else None
    names = {entry["name"] for entry in listed or () if isinstance(entry, dict) and isinstance(entry.get("name"), str)}
    try:
        names.update(artifact.name for artifact in await state.store.list_artifacts(job_id))
        for name in sorted(names):
            await state.store.delete(job_id, name)
    except ArtifactError as exc:
        raise artifact_error(exc) from None


def _deleted(video_id: str) -> dict[str, Any]:
    return {"id": video_id, "object": "video.deleted", "deleted": True}


async def list_videos(
    state: AppState, owner: str, *, after: str | None, limit: str | None, order: str | None
) -> dict[str, Any]:
    """A page of `owner`'s videos, OpenAI's cursor list (`after` is the last id of the page before)."""
    size = _page_size(limit)
    if order not in (None, "asc", "desc"):
        raise InvalidRequest("'order' must be asc or desc.", code="invalid_value", param="order")
    descending = order != "asc"
    found: list[dict[str, Any]] = []
    gone: list[str] = []
    cursor = after or None
    while len(found) <= size:
        wanted = size + 1 - len(found)
        ids = await video_index.page(state.redis, owner, after=cursor, count=wanted, descending=descending)
        if ids is None:
            unknown = f"'after' names no video of yours: '{(after or '')[:64]}'."
            raise NotFound(unknown, code="video_not_found", param="after")
        for job_id, raw in zip(ids, await video_index.job_hashes(state.redis, ids), strict=True):
            video = _stored(raw) if raw else None
            if video is None or video.record.owner != owner:
                gone.append(job_id)
            else:
                found.append(video_object(video))
        if len(ids) < wanted:
            break
        cursor = ids[-1]
    await video_index.unlist(state.redis, owner, gone)  # after the walk: a cursor must stay listed
    data = found[:size]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(found) > size,
    }


def _page_size(limit: str | None) -> int:
    if limit is None or limit == "":
        return DEFAULT_PAGE_SIZE
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            f"'limit' must be a whole number from 1 to {MAX_PAGE_SIZE}.", code="invalid_value", param="limit"
        )
    return int(limit)
