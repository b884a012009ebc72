"""Gemini API (generativelanguage v1beta) under ``/gemini/v1beta`` (= LiteLLM ``api_base``).

``POST /gemini/v1beta/models/{model}:{action}`` with action ``generateContent``,
``streamGenerateContent`` (``?alt=sse`` → SSE with CRLF line ends, otherwise a streamed JSON
array), ``countTokens``, ``embedContent``, ``batchEmbedContents``, ``predict`` (Imagen), and
``POST /gemini/v1beta/interactions`` (transcription). Image and speech answers of
``generateContent`` are in ``gemini_media``; Veo (``predictLongRunning``, its operations and
file downloads) in ``gemini_video``. Request fields are accepted in camelCase and
snake_case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import gemini_media, gemini_video
from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.gemini_fields import field, parts_text
from sandbox.emulator.reply import Conversation, Reply, ToolSpec, build_reply, embedding, new_id, split_tokens
from sandbox.emulator.transport import SSE_TYPE, EmulatedResponse, Frame, FrameKind, dump, sse_data

PREFIX = "/gemini/v1beta"
PROVIDER = "gemini"
DEFAULT_MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "text-embedding-004")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
MALFORMED = b'data: {"candidates":[{"content":\r\n\r\n'


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if retry_after is not None:
        delay = f"{int(retry_after)}s" if float(retry_after).is_integer() else f"{retry_after}s"
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    return {"error": error}


def _function_responses(content: Any) -> tuple[str, ...]:
    parts = field(content, "parts", "parts") or []
    responses = (field(p, "functionResponse", "function_response") for p in parts if isinstance(p, dict))
    return tuple(json.dumps(field(r, "response", "response"), separators=(",", ":")) for r in responses if r)


def _images(content: Any) -> int:
    parts = field(content, "parts", "parts") or []
    kinds = ("inlineData", "inline_data"), ("fileData", "file_data")
    return sum(1 for p in parts if any(field(p, camel, snake) for camel, snake in kinds))


def _tool_specs(body: dict[str, Any]) -> tuple[ToolSpec, ...]:
    specs: list[ToolSpec] = []
    for tool in body.get("tools") or []:
        for decl in field(tool, "functionDeclarations", "function_declarations") or []:
            if not isinstance(decl, dict) or not decl.get("name"):
                continue
            schema = field(decl, "parametersJsonSchema", "parameters_json_schema") or decl.get("parameters")
            specs.append(ToolSpec(decl["name"], schema if isinstance(schema, dict) else {}))
    return tuple(specs)


def conversation(body: dict[str, Any], model: str) -> Conversation:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    user = [c for c in contents if c.get("role", "user") == "user" and parts_text(c)]
    tools = _tool_specs(body)
    calling = field(field(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config")
    mode = str(field(calling, "mode", "mode") or "AUTO").upper()
    allowed = [n for n in field(calling, "allowedFunctionNames", "allowed_function_names") or [] if n]
    if mode == "ANY" and allowed:
        tools = tuple(t for t in tools if t.name in allowed)
    config = field(body, "generationConfig", "generation_config")
    limit = field(config, "maxOutputTokens", "max_output_tokens")
    schema = (
        field(config, "responseJsonSchema", "response_json_schema")
        or field(config, "responseSchema", "response_schema")
        or field(config, "_responseJsonSchema", "_response_json_schema")
    )
    thinking = field(config, "thinkingConfig", "thinking_config")
    system = field(body, "systemInstruction", "system_instruction")
    last = contents[-1] if contents else {}
    results = _function_responses(last)
    return Conversation(
        model=model,
        last_user_text=parts_text(user[-1]) if user else "",
        ends_with_user_text=last.get("role", "user") == "user" and not results,
        all_texts=(parts_text(system), *(parts_text(c) for c in contents)),
        turns=max(1, len(contents)),
        tools=() if mode == "NONE" else tools,
        forced_tool=tools[0].name if mode == "ANY" and len(allowed) == 1 and tools else None,
        tool_required=mode == "ANY",
        tool_results=results,
        max_tokens=limit if isinstance(limit, int) else None,
        json_mode=field(config, "responseMimeType", "response_mime_type") == "application/json",
        response_schema=schema if isinstance(schema, dict) else None,
        images=sum(_images(c) for c in contents),
        reasoning=field(thinking, "includeThoughts", "include_thoughts") is True,
    )


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens - reply.reasoning_tokens,
        "totalTokenCount": reply.total_tokens,
        **({"thoughtsTokenCount": reply.reasoning_tokens} if reply.reasoning_tokens else {}),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
    }


def _candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _parts(reply: Reply) -> list[dict[str, Any]]:
    thought: list[dict[str, Any]] = [{"text": reply.reasoning, "thought": True}] if reply.reasoning else []
    if reply.tool_calls:
        return thought + [{"functionCall": {"name": c.name, "args": c.arguments}} for c in reply.tool_calls]
    return [*thought, {"text": reply.text}]


def generate_response(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "candidates": [_candidate(_parts(reply), _FINISH[reply.finish])],
        "usageMetadata": _usage(reply),
        "modelVersion": model,
        "responseId": new_id("", 22),
    }


def stream_chunks(reply: Reply, model: str) -> list[tuple[dict[str, Any], FrameKind]]:
    response_id = new_id("", 22)
    common = {"modelVersion": model, "responseId": response_id}
    pieces: list[list[dict[str, Any]]] = []
    if reply.reasoning:
        pieces += [[{"text": token, "thought": True}] for token in split_tokens(reply.reasoning)]
    if reply.tool_calls:
        pieces.append([{"functionCall": {"name": c.name, "args": c.arguments}} for c in reply.tool_calls])
    else:
        pieces += [[{"text": token}] for token in reply.tokens]
    chunks: list[tuple[dict[str, Any], FrameKind]] = [
        ({"candidates": [_candidate(parts)], **common}, "content") for parts in pieces
    ]
    last = {"candidates": [_candidate([{"text": ""}], _FINISH[reply.finish])], "usageMetadata": _usage(reply), **common}
    chunks.append((last, "tail"))
    return chunks


def _frames(chunks: list[tuple[dict[str, Any], FrameKind]], *, sse: bool) -> list[Frame]:
    if sse:
        return [Frame(sse_data(chunk, eol="\r\n"), kind) for chunk, kind in chunks]
    frames = [Frame((b"[" if i == 0 else b",\r\n") + dump(chunk), kind) for i, (chunk, kind) in enumerate(chunks)]
    frames.append(Frame(b"]", "tail"))
    return frames


def _check_key(call: Call) -> EmulatedResponse | None:
    if call.request.headers.get("x-goog-api-key") or call.request.query_params.get("key"):
        return None
    return call.error(403, "Method doesn't allow unregistered callers (emulated: missing x-goog-api-key).")


async def model_action(request: Request) -> EmulatedResponse:
    rest: str = request.path_params["rest"]
    if request.method == "GET" and gemini_video.OPERATIONS in rest:
        call = await begin(request, PROVIDER, error_shape, model=rest.partition(gemini_video.OPERATIONS)[0])
        return _check_key(call) or await gemini_video.operation(call, rest)
    model, _, action = rest.rpartition(":") if ":" in rest else (rest, "", "")
    call = await begin(request, PROVIDER, error_shape, model=model.removeprefix("models/"))
    if request.method == "GET" and not action:
        info = {"name": f"models/{call.model}", "displayName": call.model, "version": "001"}
        return call.finish(EmulatedResponse(behaviour=Behaviour(), body=dump(info)))
    failed = _check_key(call)
    if failed is not None:
        return failed
    body = call.json_body
    if body is None:
        return call.error(400, "Invalid JSON payload received.")
    kinds = gemini_media.modalities(body) if action == "generateContent" else set()
    if "IMAGE" in kinds:
        return await gemini_media.generate_image(call, body)
    if "AUDIO" in kinds:
        return await gemini_media.generate_speech(call, body)
    if action == "predict":
        return await gemini_media.predict(call, body)
    if action == "predictLongRunning":
        return await gemini_video.create(call, body)
    handler = _ACTIONS.get(action)
    if handler is None:
        return call.error(404, f"Unknown action {action!r} for models/{call.model}")
    return handler(call, body)


def _generate(call: Call, body: dict[str, Any], *, stream: bool) -> EmulatedResponse:
    if not body.get("contents"):
        return call.error(400, "* GenerateContentRequest.contents: contents is not specified")
    conv = conversation(body, call.model)
    behaviour = call.resolve_or_error(conv.last_user_text)
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    reply = build_reply(conv, tokens=behaviour.tokens)
    if not stream:
        out = dump(generate_response(reply, call.model))
        response = EmulatedResponse(
            behaviour=behaviour, headers=call.headers(), body=out, completion_tokens=reply.completion_tokens
        )
        return call.finish(response)
    sse = call.request.query_params.get("alt") == "sse"
    error = {"error": {"code": 500, "message": "Internal error encountered (emulated).", "status": "INTERNAL"}}
    response = EmulatedResponse(
        behaviour=behaviour,
        headers=call.headers(),
        frames=_frames(stream_chunks(reply, call.model), sse=sse),
        media_type=SSE_TYPE if sse else "application/json; charset=UTF-8",
        malformed=MALFORMED if sse else b',\r\n{"candidates":[{"content":',
        stream_error=sse_data(error, eol="\r\n") if sse else b",\r\n" + dump(error) + b"]",
    )
    return call.finish(response, stream=True)


def _embed(call: Call, body: dict[str, Any], *, batch: bool) -> EmulatedResponse:
    requests = body.get("requests") if batch else [body]
    if not isinstance(requests, list) or not requests:
        return call.error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    texts = [parts_text(field(r, "content", "content")) for r in requests]
    behaviour = call.resolve_or_error(" ".join(texts))
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    dims = [field(r, "outputDimensionality", "output_dimensionality") for r in requests]
    vectors = [
        {"values": embedding(call.model, text, dim if isinstance(dim, int) and dim > 0 else None)}
        for text, dim in zip(texts, dims, strict=True)
    ]
    out = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


def _count(call: Call, body: dict[str, Any]) -> EmulatedResponse:
    conv = conversation(body.get("generateContentRequest") or body, call.model)
    out = dump({"totalTokens": conv.prompt_tokens()})
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=out))


_ACTIONS: dict[str, Callable[[Call, dict[str, Any]], EmulatedResponse]] = {
    "generateContent": lambda call, body: _generate(call, body, stream=False),
    "streamGenerateContent": lambda call, body: _generate(call, body, stream=True),
    "embedContent": lambda call, body: _embed(call, body, batch=False),
    "batchEmbedContents": lambda call, body: _embed(call, body, batch=True),
    "countTokens": _count,
}


async def list_models(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    names = list(dict.fromkeys([*DEFAULT_MODELS, *(m for m in call.state.controls if m != "*")]))
    methods = ["generateContent", "streamGenerateContent", "countTokens", "batchEmbedContents"]
    models = [{"name": f"models/{n}", "displayName": n, "supportedGenerationMethods": methods} for n in names]
    return call.finish(EmulatedResponse(behaviour=Behaviour(), headers=call.headers(), body=dump({"models": models})))


async def interactions(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    failed = _check_key(call)
    if failed is not None:
        return failed
    if call.json_body is None:
        return call.error(400, "Invalid JSON payload received.")
    return await gemini_media.interaction(call, call.json_body)


async def file_download(request: Request) -> EmulatedResponse:
    call = await begin(request, PROVIDER, error_shape)
    return _check_key(call) or await gemini_video.download(call, request.path_params["name"])


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/files/{{name}}", file_download, methods=["GET"]),
        Route(f"{PREFIX}/interactions", interactions, methods=["POST"]),
        Route(f"{PREFIX}/models", list_models, methods=["GET"]),
        Route(f"{PREFIX}/models/{{rest:path}}", model_action, methods=["GET", "POST"]),
    ]
