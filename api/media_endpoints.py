"""`POST /api/embeddings`, `/api/images/generations` and `/api/audio/transcriptions`: OpenAI's
bodies in, OpenAI's answers out, each one job (api/media_jobs.py). Speech, whose answer is a
stream of audio, is api/speech.py."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.artifact_views import fresh_artifacts, public_base
from api.body import parse_json, read_body
from api.errors import APIError, InvalidRequest
from api.file_service import discard, read_upload, record_upload
from api.media_chain import STEERING_FIELDS, checked_input, select_for_media
from api.media_jobs import (
    accepted,
    finished_output,
    json_body,
    respond_async,
    steering,
    submit_media_job,
    task_input,
)
from api.responses import MsgspecResponse
from api.state import AppState
from artifacts import ArtifactError, ArtifactStore
from catalog.inputs import TranscribeInput

EMBED_FIELDS = {"input": "input", "dimensions": "dimensions", "encoding_format": "encoding_format", "user": "user"}
IMAGE_FIELDS = {"prompt": "prompt", "n": "n", "size": "size", "quality": "quality", "output_format": "output_format"}
IMAGE_RESPONSE_FORMATS = ("b64_json", "url")
TRANSCRIBE_FIELDS = {"language": "language", "prompt": "prompt", "response_format": "response_format"}
# The upload's record says what it was for, in OpenAI's words.
TRANSCRIPTION_PURPOSE = "user_data"
# Stands in for the upload's id while a form field is checked before the file has arrived.
_PLACEHOLDER_FILE_ID = "file_" + "0" * 24


async def embeddings(state: AppState, request: Request, owner: str) -> Response:
    body = json_body(await read_body(request, state.settings.max_body_bytes))
    job_input = task_input("embed_text", body, EMBED_FIELDS)
    selection = select_for_media(state, "embed_text", job_input, steering("embed_text", body))
    job = await submit_media_job(state, request, owner, "embed_text", job_input, selection, EMBED_FIELDS)
    if respond_async(request):
        return await accepted(state, request, job)
    output = await finished_output(state, request, job)
    return MsgspecResponse(output, headers=job.headers(_model_of(output)))


async def images(state: AppState, request: Request, owner: str) -> Response:
    body = json_body(await read_body(request, state.settings.max_body_bytes))
    response_format = body.get("response_format") or "b64_json"
    if response_format not in IMAGE_RESPONSE_FORMATS:
        raise InvalidRequest(
            f"'response_format' must be one of {', '.join(IMAGE_RESPONSE_FORMATS)}.",
            code="invalid_value",
            param="response_format",
        )
    job_input = task_input("image_generate", body, IMAGE_FIELDS)
    selection = select_for_media(state, "image_generate", job_input, steering("image_generate", body))
    job = await submit_media_job(state, request, owner, "image_generate", job_input, selection, IMAGE_FIELDS)
    if respond_async(request):
        return await accepted(state, request, job)
    output = await finished_output(state, request, job)
    listed = output.get("artifacts") or []
    revised = output.get("revised_prompts") or []
    if response_format == "url":
        described = await fresh_artifacts(state.store, job.record.id, listed, public_base(state, request))
        data = [{"url": entry.get("url")} for entry in described]
    else:
        contents = await asyncio.gather(*(_read_whole(state.store, job.record.id, e["name"]) for e in listed))
        data = [{"b64_json": base64.b64encode(content).decode()} for content in contents]
    for item, prompt in zip(data, revised, strict=False):
        if prompt is not None:
            item["revised_prompt"] = prompt
    answer = {
        "created": int(output.get("created") or time.time()),
        "data": data,
        "output_format": job_input.output_format,
    }
    return MsgspecResponse(answer, headers=job.headers(_model_of(output)))


async def transcriptions(state: AppState, request: Request, owner: str) -> Response:
    checks: dict[str, Callable[[str], None]] = {name: _form_field_check(name) for name in TRANSCRIBE_FIELDS}
    checks["temperature"] = _temperature
    for name in ("model", "task", *STEERING_FIELDS):
        checks[name] = _accept
    upload = await read_upload(state, request, checks=checks)
    try:
        form = {name: _form_value(name, value) for name, value in upload.fields.items()}
        kept = (*TRANSCRIBE_FIELDS, "temperature")
        values = {"file_id": upload.file_id, **{k: v for k, v in form.items() if k in kept}}
        job_input: TranscribeInput = checked_input("transcribe", values, prefix="")
        selection = select_for_media(state, "transcribe", job_input, steering("transcribe", form))
    except BaseException:
        await discard(state, upload)
        raise
    await record_upload(state, owner, upload, TRANSCRIPTION_PURPOSE)
    job = await submit_media_job(
        state, request, owner, "transcribe", job_input, selection, {**TRANSCRIBE_FIELDS, "file": "file_id"}
    )
    if respond_async(request):
        return await accepted(state, request, job)
    output = await finished_output(state, request, job)
    headers = job.headers(_model_of(output))
    fmt = job_input.response_format
    if fmt in ("text", "srt", "vtt"):
        return PlainTextResponse(str(output.get("content") or output.get("text") or ""), headers=headers)
    if fmt == "verbose_json":
        verbose: dict[str, Any] = {
            "task": "transcribe",
            "language": output.get("language"),
            "duration": output.get("duration"),
            "text": output.get("text", ""),
            "segments": output.get("segments"),
        }
        if output.get("words") is not None:
            verbose["words"] = output["words"]
        return MsgspecResponse(verbose, headers=headers)
    return MsgspecResponse({"text": output.get("text", "")}, headers=headers)


def _model_of(output: dict[str, Any]) -> str | None:
    model = output.get("model")
    return model if isinstance(model, str) else None


async def _read_whole(store: ArtifactStore, job_id: str, name: str) -> bytes:
    """An image artifact's bytes, for a `b64_json` answer (which holds them all anyway)."""
    try:
        stream = await store.open(job_id, name)
        return b"".join([chunk async for chunk in stream])
    except ArtifactError as exc:
        raise APIError(f"The job's image could not be read: {exc.message}", code=exc.code, status=502) from None


def _form_field_check(name: str) -> Callable[[str], None]:
    """A transcription form field checked by the task's own rules as soon as it is read."""

    def check(value: str) -> None:
        checked_input("transcribe", {"file_id": _PLACEHOLDER_FILE_ID, name: value}, prefix="")

    return check


def _temperature(value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise InvalidRequest("'temperature' must be a number.", code="invalid_value", param="temperature") from None
    checked_input("transcribe", {"file_id": _PLACEHOLDER_FILE_ID, "temperature": number}, prefix="")


def _accept(_: str) -> None:
    """Brain steering fields are checked by the brain once the form is read."""


def _form_value(name: str, value: str) -> Any:
    """A form field as the JSON endpoints would have it: numbers for `temperature` and
    `fallbacks`, JSON for the structured steering fields (`providers`, `domains`)."""
    if name == "temperature":
        return float(value)
    if name in ("fallbacks", "providers", "domains"):
        return parse_json(value, param=name)
    return value
