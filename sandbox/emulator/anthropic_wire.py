"""Anthropic Messages API under ``/anthropic`` (LiteLLM's ``api_base`` for Anthropic has no
``/v1``; it appends ``/v1/messages``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.reply import TOOL_ARGUMENTS, Conversation, Reply, build_reply, new_id, text_of
from sandbox.emulator.transport import SSE_TYPE, EmulatedResponse, Frame, dump, sse_data

PREFIX = "/anthropic"
PROVIDER = "anthropic"
DEFAULT_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",  # LiteLLM maps any overloaded_error body to 500
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
MALFORMED = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{\n\n'


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def _has_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def conversation(body: dict[str, Any], model: str) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    user = [m for m in messages if m.get("role") == "user" and text_of(m.get("content"))]
    tools = tuple(t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name"))
    choice = body.get("tool_choice") or {}
    forced: str | None = None
    if isinstance(choice, dict):
        if choice.get("type") == "none":
            tools = ()
        elif choice.get("type") == "any" and tools:
            forced = tools[0]
        elif choice.get("type") == "tool":
            forced = choice.get("name")
    last = messages[-1] if messages else {}
    limit = body.get("max_tokens")
    return Conversation(
        model=model,
        last_user_text=text_of(user[-1].get("content")) if user else "",
        ends_with_user_text=last.get("role") == "user" and not _has_tool_result(last.get("content")),
        all_texts=(text_of(body.get("system")), *(text_of(m.get("content")) for m in messages)),
        turns=max(1, len(messages)),
        tool_names=tools,
        forced_tool=forced,
        max_tokens=limit if isinstance(limit, int) else None,
    )


def _usage(reply: Reply, *, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(
    reply: Reply, model: str, *, content: list[dict[str, Any]], stop: str | None, output: int
) -> dict[str, Any]:
    return {
        "id": new_id("msg_01"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(reply, output_tokens=output),
    }


def message(reply: Reply, model: str) -> dict[str, Any]:
    if reply.tool_name is not None:
        content = [{"type": "tool_use", "id": new_id("toolu_01"), "name": reply.tool_name, "input": {}}]
    else:
        content = [{"type": "text", "text": reply.text}]
    return _message(reply, model, content=content, stop=_STOP[reply.finish], output=reply.completion_tokens)


def stream_frames(reply: Reply, model: str) -> list[Frame]:
    def event(name: str, data: dict[str, Any], kind: Any = "head") -> Frame:
        return Frame(sse_data({"type": name, **data}, event=name), kind)

    start = _message(reply, model, content=[], stop=None, output=1)
    if reply.tool_name is not None:
        block: dict[str, Any] = {"type": "tool_use", "id": new_id("toolu_01"), "name": reply.tool_name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": TOOL_ARGUMENTS}]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": token} for token in reply.tokens]
    frames = [
        event("message_start", {"message": start}),
        event("content_block_start", {"index": 0, "content_block": block}),
        event("ping", {}),
    ]
    frames += [event("content_block_delta", {"index": 0, "delta": delta}, "content") for delta in deltas]
    frames += [
        event("content_block_stop", {"index": 0}, "tail"),
        event(
            "message_delta",
            {
                "delta": {"stop_reason": _STOP[reply.finish], "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            },
            "tail",
        ),
        event("message_stop", {}, "tail"),
    ]
    return frames


def _check_headers(call: Call) -> EmulatedResponse | None:
    if not call.request.headers.get("x-api-key"):
        return call.error(401, "x-api-key header is required")
    if not call.request.headers.get("anthropic-version"):
        return call.error(400, "anthropic-version: header is required")
    return None


async def messages(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    call.request_id_header = "request-id"
    failed = _check_headers(call)
    if failed is not None:
        return failed
    body = call.json_body
    if body is None:
        return call.error(400, "emulator: the body must be a JSON object")
    for field in ("model", "messages", "max_tokens"):
        if field not in body:
            return call.error(400, f"{field}: Field required")
    conv = conversation(body, call.model)
    behaviour = call.resolve_or_error(conv.last_user_text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    reply = build_reply(conv, tokens=behaviour.tokens)
    if body.get("stream") is True:
        stream_error = sse_data(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (emulated)"}}, event="error"
        )
        response = EmulatedResponse(
            behaviour=behaviour,
            headers=call.headers(),
            frames=stream_frames(reply, call.model),
            media_type=SSE_TYPE,
            malformed=MALFORMED,
            stream_error=stream_error,
        )
        return call.finish(response, stream=True)
    body_bytes = dump(message(reply, call.model))
    return call.finish(
        EmulatedResponse(
            behaviour=behaviour, headers=call.headers(), body=body_bytes, completion_tokens=reply.completion_tokens
        )
    )


async def count_tokens(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    call.request_id_header = "request-id"
    failed = _check_headers(call)
    if failed is not None:
        return failed
    conv = conversation(call.json_body or {}, call.model)
    out = dump({"input_tokens": conv.prompt_tokens()})
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=out))


async def list_models(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    names = list(dict.fromkeys([*DEFAULT_MODELS, *(m for m in call.state.controls if m != "*")]))
    data = [{"type": "model", "id": name, "display_name": name, "created_at": "2025-09-29T00:00:00Z"} for name in names]
    out = dump({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=out))


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/v1/messages", messages, methods=["POST"]),
        Route(f"{PREFIX}/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route(f"{PREFIX}/v1/models", list_models, methods=["GET"]),
    ]
