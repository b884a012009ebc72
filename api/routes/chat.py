"""`POST /api/chat/completions` (OpenAI-compatible)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from api.body import read_body
from api.chat_completions import complete_chat
from api.deps import caller
from api.fastlane import Answer, EventStream, LaneCall
from api.middleware import request_id_of
from api.responses import MsgspecResponse
from api.sse import SSE_MEDIA_TYPE
from api.state import AppState

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    # Served by `chat_completions_lane` (api/fastlane.py); declared here for the OpenAPI
    # document, and serving requests the lane passes on (an app mounted under a root path).
    state, owner = await caller(request)
    body = await read_body(request, state.settings.max_body_bytes)
    answer = await chat_completions_lane(state, LaneCall(request.scope, owner, body))
    if isinstance(answer, Answer):
        return MsgspecResponse(answer.content, headers=answer.headers)
    return StreamingResponse(answer.frames, media_type=SSE_MEDIA_TYPE, headers=answer.headers)


async def chat_completions_lane(state: AppState, call: LaneCall) -> Answer | EventStream:
    return await complete_chat(state, call.owner, call.body, request_id_of(call.scope))
