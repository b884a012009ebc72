"""The jobs API's service functions: submit, read, cancel, wait, and the SSE event relay.

The gateway only talks to Redis here; workers run the jobs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import msgspec

from api.body import decode
from api.chat_chain import chat_job_params
from api.errors import InvalidRequest, NotFound, Unprocessable
from api.file_service import owned_file
from api.limited_submit import submit_within_limits
from api.media_chain import checked_input, is_media_task, media_job_params
from api.plan_service import plan_job_params
from api.sse import PING, PING_S, sse_frame
from api.state import AppState
from api.webhook_service import WebhookRequest, checked_webhook
from brain import UnknownTask
from catalog.inputs import TranscribeInput, VideoInput
from queues import plan_state, store
from queues.events import STREAM_START, JobEvent, follow_events, read_events
from queues.jobs import JobRecord, encode_json
from queues.submit import IdempotencyConflict, Submission
from queues.video_index import VIDEO_TASK, listing

MAX_WAIT_S = 60
# A finished job's events are replayed in one read: far more than any job writes.
REPLAY_MAX_EVENTS = 100_000
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


class JobRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    task: str
    input: Any = None
    params: dict[str, Any] = {}
    webhook: WebhookRequest | None = None


_job_request = msgspec.json.Decoder(JobRequest)


def queue_for_task(state: AppState, task: str) -> str:
    if task in state.catalog.plans:
        return "batch"
    found = state.catalog.tasks.get(task)
    if found is None:
        raise UnknownTask(task, [*state.catalog.tasks, *state.catalog.plans])
    return found.queue


async def submit(
    state: AppState, owner: str, raw: bytes, *, idempotency_key: str | None, request_id: str | None
) -> tuple[JobRecord, bool]:
    request = decode(raw, _job_request)
    queue = queue_for_task(state, request.task)
    webhook = checked_webhook(state, request.webhook)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key")
    params_json = client_params_json = encode_json(request.params)
    task = state.catalog.tasks.get(request.task)
    if request.task in state.catalog.plans:
        params_json = encode_json(plan_job_params(state, request.task, request.input, request.params))
    elif task is not None and task.modality == "text":
        # Text tasks run through the chat handler, which needs the brain's model chain.
        params_json = encode_json(
            {**request.params, **chat_job_params(state, request.task, request.input, request.params)}
        )
    elif is_media_task(request.task):
        job_input = checked_input(request.task, request.input)
        if isinstance(job_input, TranscribeInput) and job_input.file_id is not None:
            await owned_file(state, owner, job_input.file_id, param="input.file_id")
        if isinstance(job_input, VideoInput) and job_input.image is not None and job_input.image.file_id is not None:
            image = await owned_file(state, owner, job_input.image.file_id, param="input.image.file_id")
            if not image.content_type.startswith("image/"):
                raise Unprocessable(
                    f"The file '{image.id}' is {image.content_type}, not an image.",
                    code="invalid_value",
                    param="input.image.file_id",
                )
        params_json = encode_json(
            {**request.params, **media_job_params(state, request.task, job_input, request.params)}
        )
    submission = Submission(
        task=request.task,
        queue=queue,
        input_json=encode_json(request.input),
        params_json=params_json,
        owner=owner,
        # A video made through the jobs API is one of the caller's videos too (/api/videos).
        also_writes=listing(owner, state.retention) if request.task == VIDEO_TASK else None,
        idempotency_key=idempotency_key,
        request_id=request_id,
        client_params_json=client_params_json,
        webhook=webhook,
    )
    try:
        record, created = await submit_within_limits(state, submission)
    except IdempotencyConflict:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
            param="Idempotency-Key",
        ) from None
    if created:
        state.metrics.jobs_submitted.labels(queue, request.task).inc()
    return record, created


def prefer_wait(header: str | None) -> int:
    """Seconds asked for by `Prefer: wait=N` (RFC 7240), capped at 60; 0 when absent."""
    if not header:
        return 0
    match = _PREFER_WAIT.search(header)
    return min(int(match[1]), MAX_WAIT_S) if match else 0


async def wait_for_end(state: AppState, job_id: str, seconds: float) -> JobRecord | None:
    """The job once it has ended, or as it is after `seconds`."""
    async with aclosing(follow_events(state.blocking_redis, job_id, deadline_s=seconds)) as batches:
        async for _ in batches:
            pass
    return await store.get_job(state.redis, job_id)


async def owned_job(state: AppState, owner: str, job_id: str) -> JobRecord:
    """The job if it exists and belongs to `owner`; 404 otherwise (never 403: no existence leak)."""
    record = await store.get_job(state.redis, job_id) if job_id.startswith("job_") and len(job_id) <= 64 else None
    if record is None or record.owner != owner:
        raise NotFound(f"No job with id '{job_id[:64]}'.", code="job_not_found", param="id")
    return record


async def cancel(state: AppState, owner: str, job_id: str) -> JobRecord:
    found = await owned_job(state, owner, job_id)
    record = await store.request_cancel(state.redis, job_id, retention=state.retention)
    if record is None:
        raise NotFound(f"No job with id '{job_id}'.", code="job_not_found", param="id")
    if found.queue == plan_state.PLAN_QUEUE:
        # A plan's running steps stop now, even when no worker holds the plan (its worker
        # died and no other has taken it yet), which would otherwise be the one to stop them.
        await plan_state.cancel_steps(state.redis, job_id, owner, retention=state.retention)
    return record


def resume_point(last_event_id: str | None) -> str:
    if last_event_id is None or last_event_id == "":
        return STREAM_START
    if not _STREAM_ID.match(last_event_id):
        raise InvalidRequest(
            "Last-Event-ID must be an event id this API sent (like '1732780000000-0').", param="Last-Event-ID"
        )
    return last_event_id


async def event_stream(state: AppState, record: JobRecord, after: str) -> AsyncIterator[bytes]:
    """SSE frames for the job's events after `after`; ends after the terminal event.

    Each client holds one blocking XREAD at a time (no polling loop); the idle timeout
    doubles as the `: ping` cadence that keeps proxies from closing an idle stream.
    """
    job_id = record.id
    if record.is_final or record.status == "expired":
        # Everything is already written: replay what is left and end, never block.
        events = await read_events(state.redis, job_id, after, count=REPLAY_MAX_EVENTS)
        if events:
            yield _frames(events)
        return
    async with aclosing(follow_events(state.blocking_redis, job_id, after, idle_s=PING_S)) as batches:
        async for batch in batches:
            if batch:
                yield _frames(batch)
                continue
            yield PING
            current = await store.get_job(state.redis, job_id)
            if current is None or current.status == "expired":
                return


def _frames(events: list[JobEvent]) -> bytes:
    """One write for the events read together."""
    return b"".join(sse_frame(encode_json(e.data), id=e.id, event=e.type) for e in events)
