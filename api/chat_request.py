"""The body of `POST /api/chat/completions`: an OpenAI chat request, checked and split.

Every field the gateway reads or forwards is checked against OpenAI's schema
(api/openai_chat_schema.py): a violation is a 400 whose `param` is the field's path
(`messages[0].role`), as OpenAI answers. Fields neither OpenAI nor MPC-API define are passed
on to LiteLLM untouched. The extension fields steer the brain and are not sent to the
provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from api.body import parse_json, split_validation_error
from api.errors import InvalidRequest
from api.openai_chat_schema import AssistantMessage, ChatBody, FunctionTool, Message

# Extension fields the brain reads (api/chat_chain.py); they are not sent to the provider.
EXTENSION_FIELDS = ("task", "tier", "providers", "speed", "domains", "fallbacks")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]  # as the client sent it
    stream: bool
    include_usage: bool
    forwarded: dict[str, Any]  # the OpenAI body the worker sends to LiteLLM (without model)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The request, or a 400 naming what is wrong (OpenAI's status for a bad body)."""
    if not raw.strip():
        raise InvalidRequest("Request body is empty; expected a JSON object.", code="invalid_json")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", code="invalid_value")
    check_chat_body(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.", code="invalid_value", param="stream")
    options = body.get("stream_options")
    include_usage = bool(stream and isinstance(options, dict) and options.get("include_usage"))
    forwarded = {k: v for k, v in body.items() if k not in EXTENSION_FIELDS and k != "model"}
    if not stream:
        forwarded.pop("stream_options", None)  # accepted and ignored, as OpenAI does
    return ChatRequest(body=body, stream=stream, include_usage=include_usage, forwarded=forwarded)


def check_messages(messages: Any) -> None:
    """`messages` as OpenAI defines them (a 400 naming `messages[i]…` otherwise)."""
    check_chat_body({"messages": messages})


def check_chat_body(body: dict[str, Any]) -> None:
    """`body`'s OpenAI fields against OpenAI's schema: a 400 naming the field's path."""
    try:
        checked = msgspec.convert(body, ChatBody)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from None
    for i, message in enumerate(checked.messages):
        _check_message(message, f"messages[{i}]")
    for i, tool in enumerate(checked.tools or ()):
        if isinstance(tool, FunctionTool) and tool.function.parameters is not None:
            _check_parameters(tool.function.parameters, f"tools[{i}].function.parameters")


def _check_message(message: Message, path: str) -> None:
    if (
        isinstance(message, AssistantMessage)
        and message.content is None
        and not message.tool_calls
        and message.function_call is None
    ):
        raise InvalidRequest(
            f"'{path}.content' is required unless the assistant message has 'tool_calls'.",
            code="invalid_value",
            param=f"{path}.content",
        )


def _check_parameters(schema: dict[str, Any], path: str) -> None:
    """A function's parameters are a JSON Schema of an object (OpenAI refuses any other)."""
    kind = schema.get("type", "object")
    if kind != "object":
        raise InvalidRequest(
            f"'{path}' must be a JSON Schema with type 'object', got type {msgspec.json.encode(kind).decode()}.",
            code="invalid_value",
            param=f"{path}.type",
        )
    properties = schema.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidRequest(
            f"'{path}.properties' must be an object.", code="invalid_value", param=f"{path}.properties"
        )


ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def _schema_error(exc: msgspec.ValidationError) -> InvalidRequest:
    """msgspec's error as OpenAI words a bad body: what is wrong, and the path of the field."""
    problem, param = split_validation_error(exc)
    missing = _MISSING_FIELD.match(problem)
    if missing is not None:  # name the missing field itself, not the object that lacks it
        param = f"{param}.{missing['field']}" if param else missing["field"]
    where = f" (at '{param}')" if param else ""
    allowed = f"; allowed roles: {', '.join(ROLES)}" if param and param.endswith(".role") and not missing else ""
    return InvalidRequest(f"{problem}{where}{allowed}", code="invalid_value", param=param)
