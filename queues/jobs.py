"""The job record: what a client sees of a job, stored as a Redis hash (one field per value,
so a progress update never rewrites the output)."""

from __future__ import annotations

import secrets
from typing import Any, Literal

import msgspec

JobStatus = Literal["queued", "processing", "succeeded", "failed", "canceled", "expired"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


class JobError(msgspec.Struct, frozen=True, kw_only=True):
    """OpenAI error-envelope fields plus whether trying again may help, and (for jobs that
    stand behind a synchronous endpoint such as chat) the HTTP status to answer with."""

    message: str
    type: str = "server_error"
    code: str | None = None
    param: str | None = None
    retryable: bool = False
    status: int | None = None
    retry_after: float | None = None


# The events a job's webhook may ask for; without `events`, a webhook gets the three ends.
WEBHOOK_EVENTS = ("job.succeeded", "job.failed", "job.canceled", "job.progress")
DEFAULT_WEBHOOK_EVENTS = ("job.succeeded", "job.failed", "job.canceled")


class JobWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """Where a job's events are POSTed (`queues/webhooks.py`), and which of them."""

    url: str
    events: tuple[str, ...] = DEFAULT_WEBHOOK_EVENTS


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    object: Literal["job"] = "job"
    task: str
    queue: str
    status: JobStatus
    progress: float = 0.0
    output: Any = None
    error: JobError | None = None
    attempts: int = 0
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    owner: str = ""
    request_id: str | None = None
    webhook: JobWebhook | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class PublicJob(msgspec.Struct, frozen=True, kw_only=True):
    """The record as the API returns it: no owner digest."""

    id: str
    object: str
    task: str
    queue: str
    status: JobStatus
    progress: float
    output: Any
    error: JobError | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None
    # The job's webhook and its deliveries (`GET /api/jobs/{id}`), absent without one.
    webhook: Any | msgspec.UnsetType = msgspec.UNSET


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


_json = msgspec.json.Encoder()
_error_decoder = msgspec.json.Decoder(JobError)

# Hash fields holding JSON rather than plain text.
_JSON_FIELDS = ("output", "error", "input", "params")


def record_to_hash(record: JobRecord, *, input_json: bytes, params_json: bytes) -> dict[str, bytes | str]:
    fields: dict[str, bytes | str] = {
        "id": record.id,
        "task": record.task,
        "queue": record.queue,
        "status": record.status,
        "progress": repr(record.progress),
        "attempts": str(record.attempts),
        "created_at": repr(record.created_at),
        "owner": record.owner,
        "input": input_json,
        "params": params_json,
    }
    if record.request_id:
        fields["request_id"] = record.request_id
    if record.webhook is not None:
        # Plain text, not JSON: the final-state Lua script reads them to schedule a delivery.
        fields["webhook_url"] = record.webhook.url
        fields["webhook_events"] = " ".join(record.webhook.events)
    return fields


def record_from_hash(raw: dict[bytes, bytes], *, now: float) -> JobRecord | None:
    """Decode a job hash; `None` for an empty one. Past `expires_at` the job reads `expired`."""
    if not raw:
        return None
    f = {k.decode(): v for k, v in raw.items()}

    def text(name: str) -> str | None:
        value = f.get(name)
        return None if value is None else value.decode()

    def number(name: str) -> float | None:
        value = text(name)
        return None if value is None else float(value)

    status = text("status") or "queued"
    expires_at = number("expires_at")
    output = msgspec.json.decode(f["output"]) if "output" in f else None
    error = _error_decoder.decode(f["error"]) if "error" in f else None
    if expires_at is not None and now >= expires_at:
        status, output = "expired", None
    return JobRecord(
        id=text("id") or "",
        task=text("task") or "",
        queue=text("queue") or "",
        status=status,  # type: ignore[arg-type]
        progress=number("progress") or 0.0,
        output=output,
        error=error,
        attempts=int(text("attempts") or 0),
        created_at=number("created_at") or 0.0,
        started_at=number("started_at"),
        finished_at=number("finished_at"),
        expires_at=expires_at,
        owner=text("owner") or "",
        request_id=text("request_id"),
        webhook=_webhook(text("webhook_url"), text("webhook_events")),
    )


def _webhook(url: str | None, events: str | None) -> JobWebhook | None:
    return None if url is None else JobWebhook(url=url, events=tuple((events or "").split()))


def public_view(record: JobRecord) -> PublicJob:
    return PublicJob(
        id=record.id,
        object=record.object,
        task=record.task,
        queue=record.queue,
        status=record.status,
        progress=record.progress,
        output=record.output,
        error=record.error,
        attempts=record.attempts,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        expires_at=record.expires_at,
    )


def encode_json(value: Any) -> bytes:
    return _json.encode(value)
