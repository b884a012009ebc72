"""`POST /api/completions`: OpenAI's legacy completions, answered through the chat path.

LlamaIndex's `OpenAILike` (unless `is_chat_model=True`) and older clients send `prompt` and
read `choices[].text`. The prompt becomes one user message; the chat's answer (whole, or
each streamed chunk) is reshaped into a `text_completion`. What a chat model cannot do from
a prompt (`echo`, `suffix`, `logprobs`, `best_of`, several prompts in one request, token-id
prompts) is a 400 naming the field rather than an answer that silently ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from api.errors import InvalidRequest

# Legacy-only fields; everything else (max_tokens, temperature, stop, n, the extension
# fields, …) means the same in a chat body and is passed on.
_LEGACY_FIELDS = ("prompt", "suffix", "echo", "logprobs", "best_of")


@dataclass(frozen=True, slots=True)
class Reshape:
    """How a chat's answer becomes another endpoint's: the whole completion, and each chunk."""

    whole: Callable[[dict[str, Any]], dict[str, Any]]
    chunk: Callable[[dict[str, Any]], dict[str, Any]]


def chat_body_from_completion(raw: bytes) -> bytes:
    """The chat body for a legacy completions body, or a 400 naming the field."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", code="invalid_value")
    prompt = _prompt_text(body.get("prompt"))
    if body.get("echo") not in (None, False):
        raise _unsupported("echo", "Echoing the prompt back")
    if body.get("suffix") not in (None, ""):
        raise _unsupported("suffix", "Inserting text before a suffix")
    if body.get("logprobs") is not None:
        raise _unsupported("logprobs", "Token log probabilities")
    if body.get("best_of") not in (None, 1):
        raise _unsupported("best_of", "Choosing the best of several completions")
    chat = {k: v for k, v in body.items() if k not in _LEGACY_FIELDS}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return msgspec.json.encode(chat)


def completion_from_chat(output: dict[str, Any]) -> dict[str, Any]:
    """A `text_completion` from a `chat.completion`."""
    return {
        **_head(output),
        "choices": [
            {
                "text": _text((choice.get("message") or {}).get("content")),
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in output.get("choices") or []
        ],
        **({"usage": output["usage"]} if output.get("usage") else {}),
    }


def completion_chunk_from_chat(chunk: dict[str, Any]) -> dict[str, Any]:
    """A streamed `text_completion` chunk from a `chat.completion.chunk` (a usage-only chunk
    keeps its empty choices)."""
    return {
        **_head(chunk),
        "choices": [
            {
                "text": _text((choice.get("delta") or {}).get("content")),
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
            for choice in chunk.get("choices") or []
        ],
        **({"usage": chunk["usage"]} if chunk.get("usage") else {}),
    }


AS_TEXT_COMPLETION = Reshape(whole=completion_from_chat, chunk=completion_chunk_from_chat)


def _head(answer: dict[str, Any]) -> dict[str, Any]:
    answer_id = str(answer.get("id", ""))
    head = {
        "id": "cmpl-" + answer_id.removeprefix("chatcmpl-"),
        "object": "text_completion",
        "created": answer.get("created", 0),
        "model": answer.get("model", ""),
    }
    if answer.get("system_fingerprint"):
        head["system_fingerprint"] = answer["system_fingerprint"]
    return head


def _text(content: Any) -> str:
    return content if isinstance(content, str) else ""


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]  # what many clients send for one prompt
    if isinstance(prompt, str):
        if not prompt:
            raise InvalidRequest("'prompt' must not be empty.", code="invalid_value", param="prompt")
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        raise InvalidRequest(
            "Several prompts in one request are not supported: send one prompt per request.",
            code="unsupported_value",
            param="prompt",
        )
    if isinstance(prompt, list) and prompt and all(isinstance(p, int | list) for p in prompt):
        raise InvalidRequest(
            "Token-id prompts are not supported (each provider has its own tokenizer): send the prompt as text.",
            code="unsupported_value",
            param="prompt",
        )
    raise InvalidRequest("'prompt' must be a non-empty string.", code="invalid_value", param="prompt")


def _unsupported(field: str, what: str) -> InvalidRequest:
    return InvalidRequest(
        f"{what} ('{field}') is not supported: completions are answered by chat models.",
        code="unsupported_value",
        param=field,
    )
