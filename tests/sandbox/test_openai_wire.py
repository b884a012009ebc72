"""OpenAI-compatible chat, embeddings and model list, under every provider prefix."""

from __future__ import annotations

import base64
import struct

import httpx
import pytest

from tests.support.wires import (
    OPENAI_AUTH,
    OPENAI_COMPATIBLE,
    content_events,
    openai_chat,
    openai_text,
    stream,
)

PROVIDERS = sorted(OPENAI_COMPATIBLE)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_non_stream_is_a_full_chat_completion(http: httpx.AsyncClient, provider: str) -> None:
    prefix, model = OPENAI_COMPATIBLE[provider]
    response = await http.post(
        f"{prefix}/chat/completions", json=openai_chat("Hello there", model), headers=OPENAI_AUTH
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["model"] == model
    assert body["system_fingerprint"]
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == f"Emulated reply from {model} to: Hello there"
    usage = body["usage"]
    assert usage["completion_tokens"] == len(choice["message"]["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


async def test_groq_carries_service_tier_and_x_groq(http: httpx.AsyncClient) -> None:
    prefix, model = OPENAI_COMPATIBLE["groq"]
    body = (await http.post(f"{prefix}/chat/completions", json=openai_chat("hi", model), headers=OPENAI_AUTH)).json()
    assert body["service_tier"] == "on_demand"
    assert body["x_groq"]["id"].startswith("req_")
    assert {"queue_time", "prompt_time", "completion_time", "total_time"} <= body["usage"].keys()


async def test_openai_carries_its_own_fields(http: httpx.AsyncClient) -> None:
    body = (await http.post("/openai/v1/chat/completions", json=openai_chat("hi"), headers=OPENAI_AUTH)).json()
    assert body["service_tier"] == "default"
    assert body["choices"][0]["message"]["refusal"] is None
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_stream_is_chunks_then_usage_then_done(http: httpx.AsyncClient, provider: str) -> None:
    prefix, model = OPENAI_COMPATIBLE[provider]
    body = openai_chat("Hello there", model, stream=True, stream_options={"include_usage": True})
    result = await stream(http, f"{prefix}/chat/completions", body, OPENAI_AUTH)
    assert result.status == 200 and result.error is None and not result.invalid
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.raw.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in result.raw
    events = result.events
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == model for e in events)
    assert len({e["id"] for e in events}) == 1
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert openai_text(events) == f"Emulated reply from {model} to: Hello there"
    finish = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
    assert [e["choices"][0]["finish_reason"] for e in finish] == ["stop"]
    usage_chunk = events[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == len(content_events(events))
    assert all("usage" not in e for e in events[:-1])


async def test_stream_without_include_usage_has_no_usage_chunk(http: httpx.AsyncClient) -> None:
    result = await stream(http, "/openai/v1/chat/completions", openai_chat("hi", stream=True), OPENAI_AUTH)
    assert result.done
    assert all(e["choices"] for e in result.events)


async def test_groq_stream_reports_usage_in_x_groq(http: httpx.AsyncClient) -> None:
    prefix, model = OPENAI_COMPATIBLE["groq"]
    result = await stream(http, f"{prefix}/chat/completions", openai_chat("hi", model, stream=True), OPENAI_AUTH)
    assert "x_groq" in result.events[0]
    assert result.events[-1]["choices"][0]["finish_reason"] == "stop"
    assert result.events[-1]["x_groq"]["usage"]["total_tokens"] > 0


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object", "properties": {}}}},
]


async def test_tool_call_non_stream(http: httpx.AsyncClient) -> None:
    body = openai_chat("please call tool now", tools=TOOLS)
    choice = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": "{}"}


async def test_tool_call_stream_is_tool_call_deltas(http: httpx.AsyncClient) -> None:
    body = openai_chat("Call tool please", tools=TOOLS, stream=True)
    result = await stream(http, "/openai/v1/chat/completions", body, OPENAI_AUTH)
    deltas = [e["choices"][0]["delta"] for e in result.events]
    assert deltas[0]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert deltas[0]["tool_calls"][0]["id"].startswith("call_")
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas if d.get("tool_calls"))
    assert arguments == "{}"
    assert result.events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert result.done


async def test_no_tool_call_after_a_tool_result(http: httpx.AsyncClient) -> None:
    messages = [
        {"role": "user", "content": "call tool"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    body = {"model": "gpt-4o", "messages": messages, "tools": TOOLS}
    choice = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"]


async def test_max_tokens_cuts_with_finish_reason_length(http: httpx.AsyncClient) -> None:
    body = openai_chat("hello", max_completion_tokens=2)
    body_json = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert body_json["choices"][0]["message"]["content"] == "Emulated reply"
    assert body_json["choices"][0]["finish_reason"] == "length"


async def test_json_mode_answers_json(http: httpx.AsyncClient) -> None:
    body = openai_chat("hello", response_format={"type": "json_object"})
    content = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert content["choices"][0]["message"]["content"] == '{"reply": "Emulated reply from gpt-4o to: hello"}'


async def test_missing_bearer_is_401_in_openai_shape(http: httpx.AsyncClient) -> None:
    response = await http.post("/openai/v1/chat/completions", json=openai_chat("hi"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_extra_fields_are_tolerated(http: httpx.AsyncClient) -> None:
    body = openai_chat("hi", max_retries=0, stream_options={"include_usage": True}, user="u", seed=1, n=1)
    response = await http.post("/huggingface/v1/chat/completions", json=body, headers=OPENAI_AUTH)
    assert response.status_code == 200


@pytest.mark.parametrize("prefix", ["/openai/v1", "/together/v1"])
async def test_embeddings_are_deterministic_of_the_model_width(http: httpx.AsyncClient, prefix: str) -> None:
    body = {"model": "text-embedding-3-small", "input": ["alpha", "beta"]}
    first = (await http.post(f"{prefix}/embeddings", json=body, headers=OPENAI_AUTH)).json()
    second = (await http.post(f"{prefix}/embeddings", json=body, headers=OPENAI_AUTH)).json()
    assert first["object"] == "list" and first["model"] == "text-embedding-3-small"
    assert [d["index"] for d in first["data"]] == [0, 1]
    vectors = [d["embedding"] for d in first["data"]]
    assert all(len(v) == 1536 and all(isinstance(x, float) for x in v) for v in vectors)
    assert vectors[0] != vectors[1]
    assert first["data"] == second["data"]
    assert first["usage"]["prompt_tokens"] == first["usage"]["total_tokens"] == 2


async def test_embeddings_base64(http: httpx.AsyncClient) -> None:
    plain = {"model": "m", "input": "alpha"}
    floats = (await http.post("/openai/v1/embeddings", json=plain, headers=OPENAI_AUTH)).json()["data"][0]["embedding"]
    encoded_body = {**plain, "encoding_format": "base64"}
    encoded = (await http.post("/openai/v1/embeddings", json=encoded_body, headers=OPENAI_AUTH)).json()
    decoded = struct.unpack("<8f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert decoded == pytest.approx(floats, abs=1e-6)


async def test_models_list(http: httpx.AsyncClient, emulator: object) -> None:
    await http.post("/_emulator/models/my-custom-model", json={"tokens": 3})
    body = (await http.get("/openai/v1/models", headers=OPENAI_AUTH)).json()
    ids = [m["id"] for m in body["data"]]
    assert body["object"] == "list"
    assert "gpt-4o" in ids and "my-custom-model" in ids
    assert all(m["object"] == "model" for m in body["data"])
