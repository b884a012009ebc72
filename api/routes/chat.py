"""`POST /api/chat/completions` and the legacy `POST /api/completions` (OpenAI-compatible)."""

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
from api.text_completions import AS_TEXT_COMPLETION, chat_body_from_completion

router = APIRouter(prefix="/api", tags=["chat"])


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    # Served by `chat_completions_lane` (api/fastlane.py); declared here for the OpenAPI
    # document, and serving requests the lane passes on (an app mounted under a root path).
    state, owner = await caller(request)
    body = await read_body(request, state.settings.max_body_bytes)
    return _response(await chat_completions_lane(state, LaneCall(request.scope, owner, body)))


async def chat_completions_lane(state: AppState, call: LaneCall) -> Answer | EventStream:
    return await complete_chat(state, call.owner, call.body, request_id_of(call.scope))


@router.post("/completions")
async def completions(request: Request) -> Response:
    # Served by `completions_lane`, as chat is (see above).
    state, owner = await caller(request)
    body = await read_body(request, state.settings.max_body_bytes)
    return _response(await completions_lane(state, LaneCall(request.scope, owner, body)))


async def completions_lane(state: AppState, call: LaneCall) -> Answer | EventStream:
    chat_body = chat_body_from_completion(call.body)
    return await complete_chat(state, call.owner, chat_body, request_id_of(call.scope), AS_TEXT_COMPLETION)


def _response(answer: Answer | EventStream) -> Response:
    if isinstance(answer, Answer):
        return MsgspecResponse(answer.content, headers=answer.headers)
    return StreamingResponse(answer.frames, media_type=SSE_MEDIA_TYPE, headers=answer.headers)
