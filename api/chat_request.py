"""The body of `POST /api/chat/completions`: an OpenAI chat request, checked and split.

What is checked is what the gateway needs (messages, `stream`); everything else OpenAI
defines, and any parameter a platform adds, is passed on to LiteLLM untouched. The
extension fields steer the brain and are not sent to the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from api.errors import InvalidRequest

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
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", code="invalid_value")
    check_messages(body.get("messages"))
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
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", code="invalid_value", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{i}] must be an object with a 'role' string.", code="invalid_value", param=f"messages[{i}]"
            )
