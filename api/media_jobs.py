"""What the OpenAI media endpoints share: reading their bodies, the brain's chain, a job on
the task's queue class, and waiting for it.

Each endpoint's body is OpenAI's, mapped onto the task's input (catalog.inputs) with the
input's errors renamed to the body's fields (`param: "input"` for speech's text, not
`text`); `model` and the extension fields (`task`, `tier`, `speed`, `domains`, `providers`,
`fallbacks`) steer the brain; fields OpenAI clients send that the task has no use for are
ignored, as OpenAI's own SDKs add new ones over time. The request then waits for the job,
which is canceled if the client leaves first (nobody would read the answer), unless it asked
for `Prefer: respond-async`: then it is answered at once with 202 and the job.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline
from starlette.requests import Request
from starlette.responses import Response

from api.artifact_views import job_view
from api.body import decode
from api.chat_chain import chain_params
from api.chat_stream import abandon
from api.errors import APIError, InvalidRequest, Unprocessable
from api.fastlane import unless_client_leaves
from api.job_outcome import ended_job, job_failure
from api.limited_submit import submit_within_limits
from api.media_chain import STEERING_FIELDS, checked_input
from api.middleware import request_id_of
from api.responses import MsgspecResponse
from api.state import AppState
from brain import Selection
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import follow_events
from queues.jobs import JobRecord, JobWebhook, encode_json
from queues.submit import Submission

# A client waits at most its job's class timeout, plus this for queueing and hand-over.
WAIT_MARGIN_S = 60.0
# How an abandoned request is logged and counted (nginx's "client closed request").
CLIENT_CLOSED = 499
_RESPOND_ASYNC = re.compile(r"(?:^|[,;\s])respond-async(?:$|[,;\s])", re.IGNORECASE)
_body_decoder = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class MediaJob:
    record: JobRecord
    selection: Selection
    body_fields: Mapping[str, str]  # body field -> input field, to name a failure's field as sent

    def failure(self, final: JobRecord) -> APIError:
        """The HTTP error of the failed job, naming the body's field and saying which job."""
        error = named_in_body(job_failure(final), self.body_fields, prefix="input.")
        error.headers.update(self.headers())
        return error

    def headers(self, model_id: str | None = None) -> dict[str, str]:
        return {
            "X-MPC-Model": model_id or self.selection.model.id,
            "X-MPC-Task": self.selection.task,
            "X-MPC-Job-Id": self.record.id,
        }


def json_body(raw: bytes) -> dict[str, Any]:
    """The endpoint's JSON object (400/422 naming the problem otherwise)."""
    return decode(raw, _body_decoder)


def task_input(task: str, body: Mapping[str, Any], fields: Mapping[str, str]) -> Any:
    """The task's checked input from the body's fields; `fields` maps each body field to the
    input's name for it. An error names the body's field."""
    value = {name: body[field] for field, name in fields.items() if body.get(field) is not None}
    try:
        return checked_input(task, value, prefix="")
    except Unprocessable as exc:
        raise named_in_body(exc, fields) from None


def named_in_body(error: APIError, fields: Mapping[str, str], *, prefix: str = "") -> APIError:
    """`error` with its `param` (an input field, after `prefix`: "input.dimensions") renamed to
    the body field it came from ("dimensions"; `input.text` is speech's body `input`)."""
    if error.param is None or not error.param.startswith(prefix):
        return error
    head, dot, rest = error.param.removeprefix(prefix).partition(".")
    base, bracket, index = head.partition("[")
    body_names = {name: field for field, name in fields.items()}
    if base in body_names:
        renamed = body_names[base] + bracket + index + dot + rest
        error.message = error.message.replace(f"'{error.param}'", f"'{renamed}'")
        error.param = renamed
    return error


def steering(task: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """`model` and the extension fields, for the brain; `task`, if given, must be the endpoint's."""
    asked = body.get("task")
    if asked is not None and asked != task:
        raise InvalidRequest(f"This endpoint runs task '{task}'; 'task' may only name it.", param="task")
    return {name: body[name] for name in ("model", *STEERING_FIELDS) if body.get(name) is not None}


def respond_async(request: Request) -> bool:
    return bool(_RESPOND_ASYNC.search(request.headers.get("prefer") or ""))


async def submit_media_job(
    state: AppState,
    request: Request,
    owner: str,
    task: str,
    job_input: Any,
    selection: Selection,
    body_fields: Mapping[str, str],
    extra_params: Mapping[str, Any] | None = None,
    also_writes: Callable[[Pipeline, JobRecord], None] | None = None,
    webhook: JobWebhook | None = None,
) -> MediaJob:
    """A job on the task's queue class, to run down `selection`'s chain (`select_for_media`)."""
    queue = state.catalog.tasks[task].queue
    params = {"chain": chain_params(selection), **(extra_params or {})}
    submission = Submission(
        task=task,
        queue=queue,
        input_json=encode_json(job_input),
        params_json=encode_json(params),
        owner=owner,
        request_id=request_id_of(request.scope),
        also_writes=also_writes,
        webhook=webhook,
    )
    record, _ = await submit_within_limits(state, submission)
    state.metrics.jobs_submitted.labels(queue, task).inc()
    return MediaJob(record, selection, body_fields)


async def accepted(state: AppState, request: Request, job: MediaJob) -> Response:
    """`Prefer: respond-async`: the job, at once."""
    headers = {
        **job.headers(),
        "Location": f"/api/jobs/{job.record.id}",
        "Preference-Applied": "respond-async",
    }
    return MsgspecResponse(await job_view(state, request, job.record), status_code=202, headers=headers)


def wait_limit_s(record: JobRecord) -> float:
    return QUEUE_CLASS_LIMITS[record.queue].job_timeout_s + WAIT_MARGIN_S


async def finished_output(state: AppState, request: Request, job: MediaJob) -> dict[str, Any]:
    """The output of the job once it has succeeded; its failure as an HTTP error; ClientGone
    (the job canceled) if the client leaves first."""
    final = await unless_client_leaves(_wait(state, job.record), request.receive)
    if final.status != "succeeded":
        raise job.failure(final)
    if not isinstance(final.output, dict):
        raise APIError("The job succeeded without an output.", code="empty_output", status=502)
    return final.output


async def _wait(state: AppState, record: JobRecord) -> JobRecord:
    job_id = record.id
    try:
        async for _ in follow_events(state.blocking_redis, job_id, deadline_s=wait_limit_s(record)):
            pass
        final = await ended_job(state, job_id)
        if not final.is_final:
            await abandon(state, job_id)
            raise APIError("The job did not finish in time.", code="timeout", status=504)
        return final
    except asyncio.CancelledError:
        await abandon(state, job_id)  # the client left: stop the provider call nobody will read
        raise


def gone() -> Response:
    """What is "sent" to a client that has already left (logged and counted as 499)."""
    return Response(status_code=CLIENT_CLOSED)
