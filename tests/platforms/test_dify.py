"""Dify's "OpenAI-API-compatible" model provider (docs/integrations/dify.md), by the requests it
sends, as its source builds them (langgenius/dify-plugin-sdks `OAICompatLargeLanguageModel`,
which the official `openai_api_compatible` plugin extends; the `dify_plugin` package itself
pins Flask ~=3.0.3 against this project's tree, so it is not installed): `requests` posts to
`urljoin(endpoint_url + "/", "chat/completions")`, and its stream reader splits the body on
blank lines, strips `data: `, skips `:` comments and `[DONE]`, and takes `usage` from any
chunk that has it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "Dify"
GUIDE = "docs/integrations/dify.md"
COVERS = {
    "chat": "test_credential_validation_requests",
    "stream": "test_streamed_answer_with_usage",
    "tools": "test_tool_calls_whole_and_streamed",
    "completions": "test_credential_validation_requests",
}

HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {TEST_API_KEY}"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def endpoint(stack: Stack, path: str) -> str:
    # What a user types as "API endpoint URL" in Dify: the gateway's /v1 base.
    return urljoin(f"{stack.base_url}/v1" + "/", path)


def dify_stream(response: httpx.Response) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None, str | None]:
    """Dify's reader: text, tool-call deltas, the last usage seen, the last finish_reason."""
    text, calls, usage, finish = "", [], None, None
    for raw in response.text.split("\n\n"):
        chunk = raw.strip()
        if not chunk or chunk.startswith(":"):
            continue
        decoded = chunk.removeprefix("data: ").lstrip()
        if decoded == "[DONE]":
            continue
        body = json.loads(decoded)  # Dify ends the answer with "Non-JSON encountered." otherwise
        usage = body.get("usage") or usage
        if not body.get("choices"):
            continue
        choice = body["choices"][0]
        finish = choice.get("finish_reason") or finish
        delta = choice.get("delta", {})
        text += delta.get("content") or ""
        calls += delta.get("tool_calls") or []
    return text, calls, usage, finish


def test_credential_validation_requests(stack: Stack) -> None:
    """Adding the model in Dify's settings sends one of these (chat or completion mode,
    streamed when "stream mode auth" is on); anything but a 200 with the right `object`
    refuses the credentials."""
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        ping = {"model": "mpc/chat_general:draft", "max_tokens": 5, "messages": [{"role": "user", "content": "ping"}]}
        chat = http.post(endpoint(stack, "chat/completions"), json=ping)
        assert chat.status_code == 200 and chat.json()["object"] == "chat.completion"
        streamed = http.post(endpoint(stack, "chat/completions"), json={**ping, "stream": True, "max_tokens": 10})
        assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
        legacy = {"model": "mpc/chat_general:draft", "max_tokens": 5, "prompt": "ping"}
        completion = http.post(endpoint(stack, "completions"), json=legacy)
        assert completion.status_code == 200 and completion.json()["object"] == "text_completion"
        wrong_key = http.post(endpoint(stack, "chat/completions"), json=ping, headers={"Authorization": "Bearer no"})
        assert wrong_key.status_code == 401


def test_streamed_answer_with_usage(stack: Stack) -> None:
    body = {
        "model": "mpc/chat_general",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.7,
        "max_tokens": 512,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello from Dify"}],
        "user": "dify-user-1",
    }
    with httpx.Client(headers={**HEADERS, "Accept-Charset": "utf-8"}, timeout=30) as http:
        response = http.post(endpoint(stack, "chat/completions"), json=body)
    assert response.status_code == 200 and response.headers["x-mpc-task"] == "chat_general"
    text, calls, usage, finish = dify_stream(response)
    assert "Hello from Dify" in text and not calls and finish == "stop"
    assert usage is not None and usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0


def test_tool_calls_whole_and_streamed(stack: Stack) -> None:
    """`function_calling_type: tool_call`: `tools` with `tool_choice: "auto"`, the call sent
    back as a `tool` message. The emulator calls a tool under "auto" when asked to."""
    question = {"role": "user", "content": "call tool: what is the weather in Paris?"}
    body = {"model": "mpc/chat_general", "tools": [WEATHER_TOOL], "tool_choice": "auto", "messages": [question]}
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        whole = http.post(endpoint(stack, "chat/completions"), json={**body, "stream": False}).json()
        calls = whole["choices"][0]["message"]["tool_calls"]
        assert calls and calls[0]["function"]["name"] == "get_weather"
        assert set(json.loads(calls[0]["function"]["arguments"])) <= {"city"}  # any the schema allows
        _, deltas, _, finish = dify_stream(
            http.post(endpoint(stack, "chat/completions"), json={**body, "stream": True})
        )
        assert finish == "tool_calls" and deltas[0]["function"]["name"] == "get_weather"
        streamed_arguments = "".join(d.get("function", {}).get("arguments") or "" for d in deltas)
        assert set(json.loads(streamed_arguments)) <= {"city"}
        answered = [
            question,
            {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "content": "Sunny, 21 °C.", "tool_call_id": calls[0]["id"]},
        ]
        final = http.post(endpoint(stack, "chat/completions"), json={**body, "messages": answered, "stream": False})
        assert final.status_code == 200 and final.json()["choices"][0]["message"]["content"]
