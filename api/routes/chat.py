"""`POST /api/chat/completions` (OpenAI-compatible)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from api import chat
from api.body import encode, read_body
from api.deps import caller
from api.middleware import request_id_of
from queues import store

router = APIRouter(prefix="/api", tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    # A hot route: no FastAPI dependencies to solve (see api/deps.py).
    state, owner = caller(request)
    plan = chat.parse(state, await read_body(request, state.settings.max_body_bytes))
    job = await chat.submit(state, plan, owner, request_id_of(request.scope))
    if not plan.stream:
        final = await chat.wait_result(state, job.id)
        if final.status != "succeeded" or not isinstance(final.output, dict):
            raise chat.failure(final)
        headers = chat.completion_headers(plan, job.id, str(final.output.get("model", plan.selection.model.id)))
        return Response(encode(final.output), headers=headers, media_type="application/json")
    first = await chat.first_events(state, job.id)
    if first[0].type != "output":
        # It ended before its first token: answer with a real HTTP error, not a stream.
        ended = await store.get_job(state.redis, job.id)
        if ended is None:
            raise chat.gone()
        if ended.status != "succeeded":
            raise chat.failure(ended)
    answered = first[0].data if first[0].type == "output" else {}
    model_id = str(answered.get("model") or plan.selection.model.id)
    headers = {**SSE_HEADERS, **chat.completion_headers(plan, job.id, model_id)}
    return StreamingResponse(
        chat.relay(state, job.id, first),
        media_type="text/event-stream",
        headers=headers,
    )
