"""OpenAI-compatible chat, embeddings and model list, under each provider's api_base form.

| provider    | prefix (= LiteLLM ``api_base``) | provider-specific response fields       |
|-------------|---------------------------------|-----------------------------------------|
| openai      | /openai/v1                      | service_tier "default", refusal, details |
| groq        | /groq/openai/v1                 | service_tier "on_demand", x_groq, timings |
| together    | /together/v1                    | prompt [], choices[].seed               |
| deepinfra   | /deepinfra/v1/openai            | usage.estimated_cost                    |
| cometapi    | /cometapi/v1                    | —                                       |
| huggingface | /huggingface/v1                 | —                                       |
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, bearer_token, begin
from sandbox.emulator.reply import (
    EMBEDDING_WIDTHS,
    Conversation,
    Reply,
    ToolSpec,
    build_reply,
    embedding,
    new_id,
    split_tokens,
    text_of,
)
from sandbox.emulator.transport import SSE_TYPE, EmulatedResponse, Frame, dump

PREFIXES: dict[str, str] = {
    "openai": "/openai/v1",
    "groq": "/groq/openai/v1",
    "together": "/together/v1",
    "deepinfra": "/deepinfra/v1/openai",
    "cometapi": "/cometapi/v1",
    "huggingface": "/huggingface/v1",
}
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small"),
    "groq": ("llama-3.1-8b-instant", "llama-3.3-70b-versatile"),
    "together": ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "BAAI/bge-base-en-v1.5"),
    "deepinfra": ("meta-llama/Meta-Llama-3.1-8B-Instruct",),
    "cometapi": ("gpt-4o-mini",),
    "huggingface": ("meta-llama/Llama-3.1-8B-Instruct",),
}
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_denied", 404: "not_found"}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
_FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}
# Where each provider puts the reasoning text when `reasoning_effort` is set (LiteLLM maps
# `reasoning` to `reasoning_content`); OpenAI's chat API gives none, only a token count.
REASONING_FIELD: dict[str, str | None] = {
    "openai": None,
    "groq": "reasoning",
    "together": "reasoning",
    "deepinfra": "reasoning_content",
}
Endpoint = Callable[[Request], Awaitable[EmulatedResponse]]


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "requests" if status == 429 else "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": _ERROR_CODES.get(status)}}


def conversation(body: dict[str, Any], model: str, provider: str = "openai") -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    user_texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    tools = tuple(_tool_spec(t) for t in body.get("tools") or [] if isinstance(t, dict))
    choice = body.get("tool_choice")
    forced: str | None = None
    if choice == "none":
        tools = ()
    elif isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name")
    response_format = body.get("response_format") or {}
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    schema = (response_format.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return Conversation(
        model=model,
        last_user_text=user_texts[-1] if user_texts else "",
        ends_with_user_text=bool(messages) and messages[-1].get("role") == "user",
        all_texts=tuple(text_of(m.get("content")) for m in messages),
        turns=max(1, len(messages)),
        tools=tuple(t for t in tools if t.name),
        forced_tool=forced,
        tool_required=choice == "required",
        parallel_tools=body.get("parallel_tool_calls") is not False,
        tool_results=_trailing_tool_results(messages),
        max_tokens=limit if isinstance(limit, int) else None,
        json_mode=kind in ("json_object", "json_schema"),
        response_schema=schema if isinstance(schema, dict) else None,
        images=sum(_images(m.get("content")) for m in messages),
        reasoning=provider in REASONING_FIELD and bool(body.get("reasoning_effort")),
    )


def _json_object_without_json(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_object":
        return False
    texts = (text_of(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict))
    return not any("json" in text.lower() for text in texts)


def _tool_spec(tool: dict[str, Any]) -> ToolSpec:
    function = tool.get("function") or {}
    parameters = function.get("parameters")
    return ToolSpec(str(function.get("name") or ""), parameters if isinstance(parameters, dict) else {})


def _trailing_tool_results(messages: list[dict[str, Any]]) -> tuple[str, ...]:
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        content = message.get("content")
        results.insert(0, content if isinstance(content, str) else text_of(content))
    return tuple(results)


def _images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def image_error(body: dict[str, Any]) -> str | None:
    """What OpenAI says about an image part it cannot read (None: all are readable)."""
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
                return "Invalid image_url: expected an http(s) URL or a base64 data:image/... URL."
    return None


def _usage(provider: str, reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
    }
    if provider == "openai":
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    elif provider == "groq":
        completion_time = round(reply.completion_tokens / 800, 6)
        usage.update(queue_time=0.00012, prompt_time=0.0003, completion_time=completion_time)
        usage["total_time"] = round(0.0003 + completion_time, 6)
    elif provider == "deepinfra":
        usage["estimated_cost"] = 0.0
    return usage


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": new_id("call_"), "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
        for call in reply.tool_calls
    ]


def argument_pieces(arguments: str) -> list[str]:
    """The argument deltas of one streamed call: a few pieces, as models emit them."""
    if len(arguments) <= 2:
        return [arguments]
    step = max(1, len(arguments) // 3)
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]


def completion(provider: str, reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else reply.text}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    field = REASONING_FIELD.get(provider)
    if reply.reasoning and field:
        message[field] = reply.reasoning
    if provider == "openai":
        message.update(refusal=None, annotations=[])
    choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[reply.finish]}
    out: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": _usage(provider, reply),
        "system_fingerprint": f"fp_emulator_{provider}",
    }
    if provider == "openai":
        out["service_tier"] = "default"
    elif provider == "groq":
        out["service_tier"] = "on_demand"
        out["x_groq"] = {"id": new_id("req_")}
    elif provider == "together":
        out["prompt"] = []
        choice["seed"] = 0
    return out


def stream_frames(provider: str, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
    base: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": f"fp_emulator_{provider}",
    }
    if provider in ("openai", "groq"):
        base["service_tier"] = "default" if provider == "openai" else "on_demand"
    groq_id = new_id("req_")

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {**base, "choices": [choice], **extra}
        return b"data: " + dump(body) + b"\n\n"

    first_extra: dict[str, Any] = {"x_groq": {"id": groq_id}} if provider == "groq" else {}
    head: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else ""}
    frames: list[Frame] = [Frame(chunk(head, **first_extra), "head")]
    field = REASONING_FIELD.get(provider)
    if reply.reasoning and field:
        frames += [Frame(chunk({field: piece})) for piece in split_tokens(reply.reasoning)]
    for index, call in enumerate(_tool_calls(reply)):
        opening = {**call, "index": index, "function": {"name": call["function"]["name"], "arguments": ""}}
        frames.append(Frame(chunk({"tool_calls": [opening]})))
        for piece in argument_pieces(call["function"]["arguments"]):
            frames.append(Frame(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})))
    frames += [Frame(chunk({"content": token})) for token in reply.tokens]
    last_extra: dict[str, Any] = (
        {"x_groq": {"id": groq_id, "usage": _usage(provider, reply)}} if provider == "groq" else {}
    )
    frames.append(Frame(chunk({}, _FINISH[reply.finish], **last_extra), "tail"))
    if include_usage:
        usage_chunk = {**base, "choices": [], "usage": _usage(provider, reply)}
        frames.append(Frame(b"data: " + dump(usage_chunk) + b"\n\n", "tail"))
    frames.append(Frame(b"data: [DONE]\n\n", "tail"))
    return frames


JSON_WORD_MISSING = (
    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
)
MALFORMED = b'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":\n\n'


def stream_error(message: str) -> bytes:
    error = {"message": message, "type": "server_error", "param": None, "code": None}
    return b"data: " + dump({"error": error}) + b"\n\n"


async def _begin_checked(request: Request, provider: str) -> tuple[Call, EmulatedResponse | None]:
    call = await begin(request, provider, error_shape)
    if bearer_token(request) is None:
        return call, call.error(401, "You didn't provide an API key (emulated: missing Authorization: Bearer).")
    if call.json_body is None:
        return call, call.error(400, "emulator: the body must be a JSON object")
    if not call.model:
        return call, call.error(400, "you must provide a model parameter")
    return call, None


def chat_endpoint(provider: str) -> Endpoint:
    async def chat(request: Request) -> EmulatedResponse:
        call, failed = await _begin_checked(request, provider)
        if failed is not None:
            return failed
        body = call.json_body or {}
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return call.error(400, "'messages' must be a non-empty array")
        if provider == "openai" and _json_object_without_json(body):
            return call.error(400, JSON_WORD_MISSING)
        refused = image_error(body)
        if refused is not None:
            return call.error(400, refused)
        conv = conversation(body, call.model, provider)
        behaviour = call.resolve_or_error(conv.last_user_text)
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        reply = build_reply(conv, tokens=behaviour.tokens)
        if body.get("stream") is True:
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            response = EmulatedResponse(
                behaviour=behaviour,
                headers=call.headers(),
                frames=stream_frames(provider, reply, call.model, include_usage),
                media_type=SSE_TYPE,
                malformed=MALFORMED,
                stream_error=stream_error("The server had an error while processing your request (emulated)."),
            )
            return call.finish(response, stream=True)
        response = EmulatedResponse(
            behaviour=behaviour,
            headers=call.headers(),
            body=dump(completion(provider, reply, call.model)),
            completion_tokens=reply.completion_tokens,
        )
        return call.finish(response)

    return chat


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [str(value)]
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value]
    return []


def _dimensions(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _answered_width(model: str, asked: int | None) -> tuple[int | None, str | None]:
    """The width a provider answers, or its refusal: only the text-embedding-3 family cuts
    to `dimensions` (up to its own width); fixed-width models (bge, …) ignore it."""
    native = EMBEDDING_WIDTHS.get(model)
    if asked is None or native is None:
        return asked, None
    if not model.startswith("text-embedding-3"):
        return native, None
    if asked > native:
        return None, f"Invalid value for 'dimensions': {asked}. {model} supports at most {native}."
    return asked, None


def embeddings_endpoint(provider: str) -> Endpoint:
    async def embeddings(request: Request) -> EmulatedResponse:
        call, failed = await _begin_checked(request, provider)
        if failed is not None:
            return failed
        body = call.json_body or {}
        inputs = _inputs(body.get("input"))
        if not inputs:
            return call.error(400, "'input' must be a string or a non-empty array")
        dimensions = body.get("dimensions")
        if dimensions is not None and _dimensions(dimensions) is None:
            return call.error(400, f"Invalid value for 'dimensions': {dimensions!r}. Expected a positive integer.")
        width, refused = _answered_width(call.model, _dimensions(dimensions))
        if refused is not None:
            return call.error(400, refused)
        behaviour = call.resolve_or_error(" ".join(inputs))
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = embedding(call.model, text, width)
            value: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(max(1, len(text.split())) for text in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        out = {"object": "list", "data": data, "model": call.model, "usage": usage}
        return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))

    return embeddings


def models_endpoint(provider: str) -> Endpoint:
    async def models(request: Request) -> EmulatedResponse:
        call = await begin(request, provider, error_shape)
        names = list(DEFAULT_MODELS[provider]) + [m for m in call.state.controls if m != "*"]
        data = [{"id": n, "object": "model", "created": 1700000000, "owned_by": provider} for n in dict.fromkeys(names)]
        body = dump({"object": "list", "data": data})
        return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=body))

    return models


def routes() -> list[Route]:
    out: list[Route] = []
    for provider, prefix in PREFIXES.items():
        out.append(Route(f"{prefix}/chat/completions", chat_endpoint(provider), methods=["POST"]))
        out.append(Route(f"{prefix}/embeddings", embeddings_endpoint(provider), methods=["POST"]))
        out.append(Route(f"{prefix}/models", models_endpoint(provider), methods=["GET"]))
    return out
