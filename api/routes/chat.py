"""`POST /api/chat/completions` (OpenAI-compatible)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from api import chat
from api.body import encode, read_body
from api.deps import caller
from api.fastlane import Answer, EventStream, LaneCall
from api.middleware import request_id_of
from api.state import AppState
from queues import store

router = APIRouter(prefix="/api", tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    # Served by `chat_completions_lane` (api/fastlane.py); declared here for the OpenAPI
    # document, and serving requests the lane passes on (an app mounted under a root path).
    state, owner = caller(request)
    body = await read_body(request, state.settings.max_body_bytes)
    answer = await chat_completions_lane(state, LaneCall(request.scope, owner, body))
    if isinstance(answer, Answer):
        return Response(answer.body, headers=answer.headers, media_type="application/json")
    return StreamingResponse(answer.frames, media_type="text/event-stream", headers=answer.headers)


async def chat_completions_lane(state: AppState, call: LaneCall) -> Answer | EventStream:
    """Parse, submit the job, and answer once it has: the whole completion, or a stream that
    begins with the first token. Cancelled (the client left) before then, it cancels the job."""
    plan = chat.parse(state, call.body)
    job = await chat.submit(state, plan, call.owner, request_id_of(call.scope))
    try:
        return await _answer(state, plan, job.id)
    except asyncio.CancelledError:
        await chat.abandon(state, job.id)
        raise


async def _answer(state: AppState, plan: chat.ChatPlan, job_id: str) -> Answer | EventStream:
    if not plan.stream:
        final = await chat.wait_result(state, job_id)
        if final.status != "succeeded" or not isinstance(final.output, dict):
            raise chat.failure(final)
        headers = chat.completion_headers(plan, job_id, str(final.output.get("model", plan.selection.model.id)))
        return Answer(encode(final.output), headers)
    first = await chat.first_events(state, job_id)
    if first[0].type != "output":
        # It ended before its first token: answer with a real HTTP error, not a stream.
        ended = await store.get_job(state.redis, job_id)
        if ended is None:
            raise chat.gone()
        if ended.status != "succeeded":
            raise chat.failure(ended)
    answered = first[0].data if first[0].type == "output" else {}
    model_id = str(answered.get("model") or plan.selection.model.id)
    headers = {**SSE_HEADERS, **chat.completion_headers(plan, job_id, model_id)}
    return EventStream(chat.relay(state, job_id, first), headers)
