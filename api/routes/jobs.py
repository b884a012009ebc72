"""`POST /api/jobs`, `GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`, `GET /api/jobs/{id}/events`."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse

from api import job_service, webhook_service
from api.artifact_views import job_view
from api.body import read_body
from api.deps import Owner, State, caller
from api.middleware import request_id_of
from api.responses import MsgspecResponse
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from api.state import AppState
from queues.jobs import JobRecord, public_view

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

# The submit route reads these headers itself; declared here so the OpenAPI document still lists them.
SUBMIT_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title},
    }
    for name, title in (("idempotency-key", "Idempotency-Key"), ("prefer", "Prefer"))
]


@router.post("", status_code=202, openapi_extra={"parameters": SUBMIT_HEADERS})
async def submit_job(request: Request) -> Response:
    # The job system's hot path: no dependencies and no Header() parameters, whose solving
    # by FastAPI costs more than the submission itself (see api/deps.py).
    state, owner = await caller(request)
    raw = await read_body(request, state.settings.max_body_bytes)
    record, created = await job_service.submit(
        state,
        owner,
        raw,
        idempotency_key=request.headers.get("idempotency-key"),
        request_id=request_id_of(request.scope),
    )
    return await submitted(state, request, record, created)


async def submitted(state: AppState, request: Request, record: JobRecord, created: bool) -> Response:
    """The answer to a job's submission (jobs, plans): 202 with its Location, or, with
    `Prefer: wait=N`, the job as it ended within N seconds (200 when final or not new)."""
    headers = {"Location": f"/api/jobs/{record.id}"}
    wait_s = job_service.prefer_wait(request.headers.get("prefer"))
    if wait_s and not record.is_final:
        record = await job_service.wait_for_end(state, record.id, wait_s) or record
        headers["Preference-Applied"] = f"wait={wait_s}"
    status = 200 if record.is_final or not created else 202
    view = await job_view(state, request, record) if record.is_final else public_view(record)
    return MsgspecResponse(view, status_code=status, headers=headers)


@router.get("/{job_id}")
async def get_job(job_id: str, request: Request, state: State, owner: Owner) -> Response:
    record = await job_service.owned_job(state, owner, job_id)
    view = await job_view(state, request, record)
    webhook = await webhook_service.job_webhook(state, record)
    if webhook is not None:
        view = msgspec.structs.replace(view, webhook=webhook)
    return MsgspecResponse(view)


@router.post("/{job_id}/cancel")
async def cancel_job(job_id: str, state: State, owner: Owner) -> Response:
    record = await job_service.cancel(state, owner, job_id)
    return MsgspecResponse(public_view(record))


@router.get("/{job_id}/events")
async def job_events(
    job_id: str,
    state: State,
    owner: Owner,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    after = job_service.resume_point(last_event_id)
    record = await job_service.owned_job(state, owner, job_id)
    state.streams.admit(owner)
    events = state.streams.held(owner, job_service.event_stream(state, record, after))
    return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)
