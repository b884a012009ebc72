"""`POST /api/chat/completions`: OpenAI-compatible chat, answered by an interactive worker.

The gateway validates the body, lets the brain pick the model chain, submits a job and
relays the worker's output as it arrives: for a stream, each chunk is written to the
client the moment the worker puts it in Redis; otherwise the finished completion is
returned. Unknown OpenAI parameters are passed on untouched (platforms send many).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from api.errors import APIError, InvalidRequest, NotFound
from api.select import ProvidersFilter, SelectBody, to_request
from api.state import AppState
from brain import BrainError, NoCandidate, Selection, select
from catalog.schema import Model
from queues import store
from queues.events import JobEvent, read_events
from queues.jobs import JobError, JobRecord, encode_json
from queues.submit import Submission, submit_job

DEFAULT_TASK = "chat_general"
# Extension fields the brain reads; they are not sent to the provider.
EXTENSION_FIELDS = ("task", "tier", "providers", "speed", "domains", "fallbacks")
# The longest a client waits for a job of the interactive class (its job timeout + margin).
CHAT_WAIT_S = 330.0

_providers_filter = msgspec.json.Decoder(ProvidersFilter)


@dataclass(frozen=True, slots=True)
class ChatPlan:
    """A validated chat request and the job that will answer it."""

    task: str
    stream: bool
    include_usage: bool
    selection: Selection
    forwarded: dict[str, Any]  # the OpenAI body the worker sends to LiteLLM (without model)


def parse(state: AppState, raw: bytes) -> ChatPlan:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", code="invalid_value")
    _check_messages(body.get("messages"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.", code="invalid_value", param="stream")
    options = body.get("stream_options")
    include_usage = bool(stream and isinstance(options, dict) and options.get("include_usage"))
    selection = _select(state, body)
    forwarded = {k: v for k, v in body.items() if k not in EXTENSION_FIELDS and k != "model"}
    if not stream:
        forwarded.pop("stream_options", None)  # accepted and ignored, as OpenAI does
    return ChatPlan(
        task=selection.task, stream=stream, include_usage=include_usage, selection=selection, forwarded=forwarded
    )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", code="invalid_value", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{i}] must be an object with a 'role' string.", code="invalid_value", param=f"messages[{i}]"
            )


def _select(state: AppState, body: dict[str, Any]) -> Selection:
    name = body.get("model")
    if name is not None and not isinstance(name, str):
        raise InvalidRequest("'model' must be a string.", code="invalid_value", param="model")
    pinned: Model | None = None
    if name and name != "auto":
        pinned = state.catalog.resolve(name)
        if pinned is None:
            raise NotFound(f"The model '{name[:200]}' does not exist.", code="model_not_found", param="model")
        if pinned.modality != "text":
            raise InvalidRequest(f"The model '{pinned.id}' is not a chat model.", code="invalid_value", param="model")
    task = body.get("task") or (_chat_task(pinned) if pinned else DEFAULT_TASK)
    if not isinstance(task, str) or state.catalog.tasks.get(task) is None:
        raise InvalidRequest(f"Unknown task {task!r}.", code="unknown_task", param="task")
    if state.catalog.tasks[task].modality != "text":
        raise InvalidRequest(f"Task {task!r} is not a chat task.", code="invalid_value", param="task")
    select_body = _select_body(body, task, pinned)
    try:
        selection = select(state.index, to_request(select_body), state.provider_health.current)
    except NoCandidate as exc:
        raise APIError(exc.message, code=exc.code, param=exc.constraint, status=400) from None
    except BrainError as exc:
        raise InvalidRequest(exc.message, code=exc.code, param=exc.param) from None
    state.metrics.selections.labels(selection.task, selection.tier_used, selection.model.provider).inc()
    return selection


def _chat_task(model: Model) -> str:
    return DEFAULT_TASK if DEFAULT_TASK in model.tasks else model.tasks[0]


def _select_body(body: dict[str, Any], task: str, pinned: Model | None) -> SelectBody:
    """The brain's constraints: the extension fields, plus what the request itself needs."""
    capabilities: list[str] = []
    if body.get("tools"):
        capabilities.append("tools")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        capabilities.append("json_mode")
    if _has_images(body["messages"]):
        capabilities.append("vision")
    if body.get("stream") is True:
        capabilities.append("streaming")
    fields: dict[str, Any] = {"task": task, "messages": body["messages"], "capabilities": capabilities}
    for name in ("tier", "speed", "domains", "fallbacks"):
        if body.get(name) is not None:
            fields[name] = body[name]
    if body.get("providers") is not None:
        fields["providers"] = body["providers"]
    if pinned is not None:
        fields["model"] = pinned.id
    try:
        return msgspec.convert(fields, SelectBody)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(str(exc), code="invalid_value") from None


def _has_images(messages: list[Any]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False


def chain_params(selection: Selection) -> list[dict[str, str]]:
    return [
        {"id": m.id, "provider": m.provider, "provider_id": m.provider_id}
        for m in (selection.model, *selection.fallbacks)
    ]


def chat_job_params(state: AppState, task: str, job_input: Any, params: dict[str, Any]) -> dict[str, Any]:
    """For `POST /api/jobs` with a text task: the chain for the job's chat handler. `input`
    is an OpenAI chat body (at least `messages`); `params` may steer the brain with the
    select-model fields (tier, providers, model, …)."""
    if not isinstance(job_input, dict):
        raise InvalidRequest("'input' of a text task must be an object with 'messages'.", param="input")
    try:
        _check_messages(job_input.get("messages"))
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, code=exc.code, param=f"input.{exc.param}") from None
    body = {**{k: v for k, v in params.items() if k in (*EXTENSION_FIELDS, "model")}, **job_input, "task": task}
    body.pop("stream", None)  # a job's output is the whole completion
    if "model" in params:
        body["model"] = params["model"]
    return {"chain": chain_params(_select(state, body)), "stream": False}


async def submit(state: AppState, plan: ChatPlan, owner: str, request_id: str) -> JobRecord:
    params = {"chain": chain_params(plan.selection), "stream": plan.stream, "include_usage": plan.include_usage}
    submission = Submission(
        task=plan.task,
        queue="interactive",
        input_json=encode_json(plan.forwarded),
        params_json=encode_json(params),
        owner=owner,
        request_id=request_id,
    )
    record, _ = await submit_job(state.redis, submission)
    state.metrics.jobs_submitted.labels("interactive", plan.task).inc()
    return record


async def first_events(state: AppState, job_id: str) -> list[JobEvent]:
    """Wait for the job's first `output` or terminal event; return it and every event the
    same read brought after it (a head chunk and the first token often arrive together)."""
    after = "0-0"
    while True:
        events = await read_events(state.blocking_redis, job_id, after, block_ms=int(CHAT_WAIT_S * 1000))
        if not events:
            raise APIError("The model did not answer in time.", code="timeout", status=504)
        for i, event in enumerate(events):
            if event.type == "output" or event.is_terminal:
                return events[i:]
        after = events[-1].id


async def wait_result(state: AppState, job_id: str) -> JobRecord:
    after = "0-0"
    while True:
        events = await read_events(state.blocking_redis, job_id, after, block_ms=int(CHAT_WAIT_S * 1000))
        if not events:
            raise APIError("The model did not answer in time.", code="timeout", status=504)
        after = events[-1].id
        if any(e.is_terminal for e in events):
            record = await store.get_job(state.redis, job_id)
            if record is None:
                raise gone()
            return record


def failure(record: JobRecord) -> APIError:
    """The HTTP error for a failed chat job, from the error the worker recorded."""
    error = record.error or JobError(message="The job failed.")
    return job_error(error)


def job_error(error: JobError) -> APIError:
    headers = {}
    if error.status == 429:
        headers["Retry-After"] = str(max(1, round(error.retry_after or 1)))
    return APIError(
        error.message, code=error.code, param=error.param, headers=headers, status=error.status or 502, type=error.type
    )


def gone() -> APIError:
    return APIError("The job's result expired before it could be read.", code="job_expired", status=500)


async def relay(state: AppState, job_id: str, first: list[JobEvent]) -> AsyncGenerator[bytes, None]:
    """SSE frames for a stream, from the first events read to `[DONE]` (or an error chunk).

    Plain `data:` lines with no `event:` field (Dify reads nothing else). A failure after the
    first chunk ends with `data: {"error": …}` and no `[DONE]`, so no client mistakes a cut
    answer for a complete one. If the client goes away, the job is canceled.
    """
    finished = False
    try:
        events = first
        while True:
            frames, finished = _frames(events)
            if frames:
                yield frames
            if finished:
                return
            after = events[-1].id
            events = await read_events(state.blocking_redis, job_id, after, block_ms=int(CHAT_WAIT_S * 1000))
            if not events:
                stalled = {"message": "The model stopped answering.", "type": "server_error", "code": "timeout"}
                yield b"data: " + encode_json({"error": {**stalled, "param": None}}) + b"\n\n"
                return
    finally:
        if not finished:
            await abandon(state, job_id)  # the client left mid-answer


async def abandon(state: AppState, job_id: str) -> None:
    """Cancel the job of a client that left: stop the provider call nobody will read.
    Shielded: under Starlette the request's cancel scope would otherwise cancel this too."""
    with anyio.CancelScope(shield=True):
        await store.request_cancel(state.redis, job_id)


def _frames(events: list[JobEvent]) -> tuple[bytes, bool]:
    """The SSE frames for events read together (one write to the client), and whether the
    stream ended with them."""
    frames = bytearray()
    for event in events:
        if event.type == "output":
            frames += b"data: " + encode_json(event.data) + b"\n\n"
        elif event.type == "error":
            error = JobError(**{k: v for k, v in (event.data.get("error") or {}).items() if k in _ERROR_FIELDS})
            envelope = {"message": error.message, "type": error.type, "code": error.code, "param": error.param}
            frames += b"data: " + encode_json({"error": envelope}) + b"\n\n"
            return bytes(frames), True
        elif event.type == "done":
            frames += b"data: [DONE]\n\n"
            return bytes(frames), True
    return bytes(frames), False


_ERROR_FIELDS = frozenset(JobError.__struct_fields__)


def completion_headers(plan: ChatPlan, job_id: str, model_id: str) -> dict[str, str]:
    return {"X-MPC-Model": model_id, "X-MPC-Task": plan.task, "X-MPC-Job-Id": job_id}
