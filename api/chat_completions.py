"""`POST /api/chat/completions`: OpenAI-compatible chat, answered by an interactive worker.

The gateway checks the body (api/chat_request.py), lets the brain pick the model chain
(api/chat_chain.py), submits a job and answers once the job has: for a stream, with a
relay of its chunks that begins with the first token (api/chat_stream.py); otherwise with
the finished completion. A job that fails before its first token is a real HTTP error.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from api.chat_chain import chain_params, select_for_chat
from api.chat_request import ChatRequest, parse_chat_request
from api.chat_stream import CHAT_WAIT_S, abandon, first_chunks, no_answer_in_time, relay
from api.fastlane import Answer, EventStream
from api.job_outcome import ended_job, job_failure
from api.limited_submit import submit_within_limits
from api.sse import SSE_HEADERS
from api.state import AppState
from api.text_completions import Reshape
from brain import Selection
from queues.events import follow_events
from queues.jobs import JobRecord, encode_json
from queues.submit import Submission


async def complete_chat(
    state: AppState, owner: str, raw: bytes, request_id: str, reshape: Reshape | None = None
) -> Answer | EventStream:
    """The answer to a chat request (`reshape`d for another endpoint's shape). Cancelled
    (the client left) before it is ready, it cancels the job."""
    request = parse_chat_request(raw)
    if request.stream:
        state.streams.admit(owner)
    selection = select_for_chat(state, request.body)
    job = await _submit(state, request, selection, owner, request_id)
    try:
        if request.stream:
            return await _stream(state, selection, job.id, owner, reshape)
        return await _whole(state, selection, job.id, reshape)
    except asyncio.CancelledError:
        await abandon(state, job.id)
        raise


async def _submit(
    state: AppState, request: ChatRequest, selection: Selection, owner: str, request_id: str
) -> JobRecord:
    params = {"chain": chain_params(selection), "stream": request.stream, "include_usage": request.include_usage}
    submission = Submission(
        task=selection.task,
        queue="interactive",
        input_json=encode_json(request.forwarded),
        params_json=encode_json(params),
        owner=owner,
        request_id=request_id,
    )
    record, _ = await submit_within_limits(state, submission)
    state.metrics.jobs_submitted.labels("interactive", selection.task).inc()
    return record


async def _whole(state: AppState, selection: Selection, job_id: str, reshape: Reshape | None) -> Answer:
    async with aclosing(follow_events(state.blocking_redis, job_id, idle_s=CHAT_WAIT_S)) as batches:
        async for batch in batches:
            if not batch:
                raise no_answer_in_time()
    final = await ended_job(state, job_id)
    if final.status != "succeeded" or not isinstance(final.output, dict):
        raise job_failure(final)
    model_id = str(final.output.get("model", selection.model.id))
    content = reshape.whole(final.output) if reshape else final.output
    return Answer(content, _headers(selection, job_id, model_id))


async def _stream(
    state: AppState, selection: Selection, job_id: str, owner: str, reshape: Reshape | None
) -> EventStream:
    batches = follow_events(state.blocking_redis, job_id, idle_s=CHAT_WAIT_S)
    try:
        first = await first_chunks(batches)
        if first[0].type != "output":
            # It ended before its first token: answer with a real HTTP error, not a stream.
            ended = await ended_job(state, job_id)
            if ended.status != "succeeded":
                raise job_failure(ended)
    except BaseException:
        await batches.aclose()
        raise
    answered = first[0].data if first[0].type == "output" else {}
    model_id = str(answered.get("model") or selection.model.id)
    frames = state.streams.held(owner, relay(state, job_id, first, batches, reshape.chunk if reshape else None))
    return EventStream(frames, {**SSE_HEADERS, **_headers(selection, job_id, model_id)})


def _headers(selection: Selection, job_id: str, model_id: str) -> dict[str, str]:
    return {"X-MPC-Model": model_id, "X-MPC-Task": selection.task, "X-MPC-Job-Id": job_id}
