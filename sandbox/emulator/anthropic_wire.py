"""Anthropic Messages API under ``/anthropic`` (LiteLLM's ``api_base`` for Anthropic has no
``/v1``; it appends ``/v1/messages``)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.openai_wire import argument_pieces
from sandbox.emulator.reply import Conversation, Reply, ToolSpec, build_reply, new_id, split_tokens, text_of
from sandbox.emulator.transport import SSE_TYPE, EmulatedResponse, Frame, FrameKind, dump, sse_data

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
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}
MALFORMED = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{\n\n'


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def _tool_results(content: Any) -> tuple[str, ...]:
    if not isinstance(content, list):
        return ()
    results = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            results.append(inner if isinstance(inner, str) else text_of(inner))
    return tuple(results)


def _images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for b in content if isinstance(b, dict) and b.get("type") == "image")


def image_error(body: dict[str, Any]) -> str | None:
    """Anthropic's complaint about an image block it cannot read (None: all are readable)."""
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            source: dict[str, Any] = block["source"] if isinstance(block.get("source"), dict) else {}
            kind = source.get("type")
            if kind == "base64" and source.get("media_type") in _IMAGE_TYPES and source.get("data"):
                continue
            if kind == "url" and str(source.get("url", "")).startswith(("http://", "https://")):
                continue
            return f"messages.{index}.content: image source must be base64 ({', '.join(_IMAGE_TYPES)}) or url"
    return None


def conversation(body: dict[str, Any], model: str) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    user = [m for m in messages if m.get("role") == "user" and text_of(m.get("content"))]
    tools = tuple(
        ToolSpec(t["name"], t["input_schema"] if isinstance(t.get("input_schema"), dict) else {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("name")
    )
    choice = body.get("tool_choice") or {}
    choice = choice if isinstance(choice, dict) else {}
    if choice.get("type") == "none":
        tools = ()
    last = messages[-1] if messages else {}
    limit = body.get("max_tokens")
    output_format = body.get("output_format") or {}
    schema = output_format.get("schema") if isinstance(output_format, dict) else None
    texts = (text_of(body.get("system")), *(text_of(m.get("content")) for m in messages))
    thinking = body.get("thinking") or {}
    return Conversation(
        model=model,
        last_user_text=text_of(user[-1].get("content")) if user else "",
        ends_with_user_text=last.get("role") == "user" and not _tool_results(last.get("content")),
        all_texts=texts,
        turns=max(1, len(messages)),
        tools=tools,
        forced_tool=choice.get("name") if choice.get("type") == "tool" else None,
        tool_required=choice.get("type") == "any",
        parallel_tools=choice.get("disable_parallel_tool_use") is not True,
        tool_results=_tool_results(last.get("content")) if last.get("role") == "user" else (),
        max_tokens=limit if isinstance(limit, int) else None,
        # Claude has no JSON switch (LiteLLM sends json_object as nothing): it follows a
        # prompt that asks for JSON, and output_format's schema when one is given.
        json_mode=isinstance(schema, dict) or any("json" in text.lower() for text in texts),
        response_schema=schema if isinstance(schema, dict) else None,
        images=sum(_images(m.get("content")) for m in messages),
        reasoning=isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"),
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


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    """The answer's content blocks, whole: thinking, then the tool calls or the text."""
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": _signature(reply.reasoning)})
    for call in reply.tool_calls:
        blocks.append({"type": "tool_use", "id": new_id("toolu_01"), "name": call.name, "input": call.arguments})
    if not reply.tool_calls:
        blocks.append({"type": "text", "text": reply.text})
    return blocks


def _signature(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def message(reply: Reply, model: str) -> dict[str, Any]:
    return _message(reply, model, content=_blocks(reply), stop=_STOP[reply.finish], output=reply.completion_tokens)


def _streamed(block: dict[str, Any], reply: Reply) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block as `content_block_start` opens it, and the deltas that fill it."""
    if block["type"] == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in split_tokens(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    if block["type"] == "tool_use":
        pieces = argument_pieces(json.dumps(block["input"], separators=(",", ":")))
        return {**block, "input": {}}, [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    return {"type": "text", "text": ""}, [{"type": "text_delta", "text": token} for token in reply.tokens]


def stream_frames(reply: Reply, model: str) -> list[Frame]:
    def event(name: str, data: dict[str, Any], kind: FrameKind = "head") -> Frame:
        return Frame(sse_data({"type": name, **data}, event=name), kind)

    start = _message(reply, model, content=[], stop=None, output=1)
    frames = [event("message_start", {"message": start})]
    blocks = _blocks(reply)
    for index, block in enumerate(blocks):
        opening, deltas = _streamed(block, reply)
        # The first block opens with the head (a fault counts from the first delta on);
        # the last one's stop is the tail; the blocks between count as content.
        kind: FrameKind = "head" if index == 0 else "content"
        frames.append(event("content_block_start", {"index": index, "content_block": opening}, kind))
        if index == 0:
            frames.append(event("ping", {}))
        frames += [event("content_block_delta", {"index": index, "delta": delta}, "content") for delta in deltas]
        last = index == len(blocks) - 1
        frames.append(event("content_block_stop", {"index": index}, "tail" if last else "content"))
    frames += [
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
    refused = image_error(body)
    if refused is not None:
        return call.error(400, refused)
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
