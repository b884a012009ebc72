"""OpenAI-compatible chat, embeddings and model list, under every provider prefix."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import jsonschema_rs
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
    assert deltas[0] == {"role": "assistant", "content": None}
    calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert "".join(c["function"]["arguments"] for c in calls) == "{}"
    assert result.events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert result.done


WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 3, "maximum": 10},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
    },
    "required": ["city", "days"],
}
AGENT_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]


async def test_tool_arguments_conform_to_the_schema(http: httpx.AsyncClient) -> None:
    body = openai_chat("What is the weather in Paris?", tools=AGENT_TOOLS)
    choice = (await http.post("/groq/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()["choices"][0]
    [call] = choice["message"]["tool_calls"]  # the message is about weather, not time
    arguments = json.loads(call["function"]["arguments"])
    jsonschema_rs.validate(WEATHER, arguments)
    assert arguments["city"] == "Paris" and arguments["unit"] == "celsius" and arguments["days"] == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_calls_streamed_as_indexed_argument_deltas(http: httpx.AsyncClient, provider: str) -> None:
    prefix, model = OPENAI_COMPATIBLE[provider]
    body = openai_chat("Weather and time in Rome?", model, tools=AGENT_TOOLS, stream=True)
    result = await stream(http, f"{prefix}/chat/completions", body, OPENAI_AUTH)
    calls: dict[int, str] = {}
    for event in result.events:
        for part in (event["choices"] or [{}])[0].get("delta", {}).get("tool_calls") or []:
            calls[part["index"]] = calls.get(part["index"], "") + part["function"]["arguments"]
    assert sorted(calls) == [0, 1]
    jsonschema_rs.validate(WEATHER, json.loads(calls[0]))
    assert len([e for e in result.events if e["choices"] and e["choices"][0]["delta"].get("tool_calls")]) > 3
    serial = openai_chat("Weather and time in Rome?", model, tools=AGENT_TOOLS, parallel_tool_calls=False)
    message = (await http.post(f"{prefix}/chat/completions", json=serial, headers=OPENAI_AUTH)).json()
    assert len(message["choices"][0]["message"]["tool_calls"]) == 1


async def test_required_and_named_tool_choice(http: httpx.AsyncClient) -> None:
    required = openai_chat("hello", tools=AGENT_TOOLS, tool_choice="required")
    message = (await http.post("/openai/v1/chat/completions", json=required, headers=OPENAI_AUTH)).json()
    assert [c["function"]["name"] for c in message["choices"][0]["message"]["tool_calls"]] == ["get_weather"]
    choice = {"type": "function", "function": {"name": "get_time"}}
    named = openai_chat("weather?", tools=AGENT_TOOLS, tool_choice=choice)
    message = (await http.post("/openai/v1/chat/completions", json=named, headers=OPENAI_AUTH)).json()
    assert [c["function"]["name"] for c in message["choices"][0]["message"]["tool_calls"]] == ["get_time"]
    plain = openai_chat("weather?", tools=AGENT_TOOLS, tool_choice="none")
    message = (await http.post("/openai/v1/chat/completions", json=plain, headers=OPENAI_AUTH)).json()
    assert message["choices"][0]["finish_reason"] == "stop"


async def test_json_schema_answer_conforms(http: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = openai_chat("give a", response_format=response_format)
    content = (await http.post("/together/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    jsonschema_rs.validate(schema, json.loads(content["choices"][0]["message"]["content"]))


@pytest.mark.parametrize(("provider", "field"), [("groq", "reasoning"), ("deepinfra", "reasoning_content")])
async def test_reasoning_text_where_the_provider_gives_it(http: httpx.AsyncClient, provider: str, field: str) -> None:
    prefix, model = OPENAI_COMPATIBLE[provider]
    body = openai_chat("why?", model, reasoning_effort="low")
    message = (await http.post(f"{prefix}/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert message["choices"][0]["message"][field].startswith("Emulated reasoning")
    openai = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert "reasoning_content" not in openai["choices"][0]["message"]
    assert openai["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


async def test_image_parts_are_seen_and_bad_ones_refused(http: httpx.AsyncClient) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}]}
    message = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert message["choices"][0]["message"]["content"].endswith("(seen 1 image)")
    image["image_url"] = {"url": "file:///etc/passwd"}
    response = await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)
    assert response.status_code == 400 and "image_url" in response.json()["error"]["message"]


async def test_no_tool_call_after_a_tool_result(http: httpx.AsyncClient) -> None:
    messages = [
        {"role": "user", "content": "call tool"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    body = {"model": "gpt-4o", "messages": messages, "tools": TOOLS}
    choice = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"].endswith("(using tool results: sunny)")


async def test_max_tokens_cuts_with_finish_reason_length(http: httpx.AsyncClient) -> None:
    body = openai_chat("hello", max_completion_tokens=2)
    body_json = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert body_json["choices"][0]["message"]["content"] == "Emulated reply"
    assert body_json["choices"][0]["finish_reason"] == "length"


async def test_json_mode_answers_json(http: httpx.AsyncClient) -> None:
    body = openai_chat("hello in JSON", response_format={"type": "json_object"})
    content = (await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)).json()
    assert content["choices"][0]["message"]["content"] == '{"reply": "Emulated reply from gpt-4o to: hello in JSON"}'
    without_the_word = openai_chat("hello", response_format={"type": "json_object"})
    refused = await http.post("/openai/v1/chat/completions", json=without_the_word, headers=OPENAI_AUTH)
    assert refused.status_code == 400 and "'json'" in refused.json()["error"]["message"]


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
