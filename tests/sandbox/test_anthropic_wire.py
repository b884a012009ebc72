"""Anthropic Messages API at /anthropic/v1/messages (api_base /anthropic)."""

from __future__ import annotations

import json

import httpx
import jsonschema_rs

from tests.support.wires import ANTHROPIC_HEADERS, anthropic_chat, stream

PATH = "/anthropic/v1/messages"


async def test_non_stream_message(http: httpx.AsyncClient) -> None:
    body = anthropic_chat("Hello there", system=[{"type": "text", "text": "Be brief."}])
    response = await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    message = response.json()
    assert message["id"].startswith("msg_")
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-sonnet-4-5"
    assert message["content"] == [{"type": "text", "text": "Emulated reply from claude-sonnet-4-5 to: Hello there"}]
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    usage = message["usage"]
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] == 7


async def test_stream_event_sequence(http: httpx.AsyncClient) -> None:
    result = await stream(http, PATH, anthropic_chat("Hello there", stream=True), ANTHROPIC_HEADERS)
    assert result.status == 200 and result.error is None and not result.invalid
    assert result.headers["content-type"].startswith("text/event-stream")
    types = [e["type"] for e in result.events]
    deltas = [e for e in result.events if e["type"] == "content_block_delta"]
    assert types == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * len(deltas),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    # every data line is preceded by an event line with the same name
    event_lines = [line[7:] for line in result.raw.decode().splitlines() if line.startswith("event: ")]
    assert event_lines == types
    start = result.events[0]["message"]
    assert start["model"] == "claude-sonnet-4-5" and start["usage"]["input_tokens"] > 0
    text = "".join(d["delta"]["text"] for d in deltas)
    assert all(d["delta"]["type"] == "text_delta" for d in deltas)
    assert text == "Emulated reply from claude-sonnet-4-5 to: Hello there"
    message_delta = result.events[-2]
    assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"]["output_tokens"] == len(deltas)
    assert b"[DONE]" not in result.raw


async def test_tool_use(http: httpx.AsyncClient) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]
    body = anthropic_chat("call tool lookup", tools=tools)
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    assert message["stop_reason"] == "tool_use"
    [block] = message["content"]
    assert block["type"] == "tool_use" and block["name"] == "lookup" and block["input"] == {}
    result = await stream(http, PATH, {**body, "stream": True}, ANTHROPIC_HEADERS)
    assert result.events[1]["content_block"]["type"] == "tool_use"
    assert [e["delta"] for e in result.events if e["type"] == "content_block_delta"] == [
        {"type": "input_json_delta", "partial_json": "{}"}
    ]
    assert result.events[-2]["delta"]["stop_reason"] == "tool_use"


async def test_max_tokens_stop_reason(http: httpx.AsyncClient) -> None:
    body = {**anthropic_chat("Hello"), "max_tokens": 3}
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 3


async def test_required_headers_and_fields(http: httpx.AsyncClient) -> None:
    no_key = await http.post(PATH, json=anthropic_chat("hi"), headers={"anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
    }
    no_version = await http.post(PATH, json=anthropic_chat("hi"), headers={"x-api-key": "k"})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    body = anthropic_chat("hi")
    del body["max_tokens"]
    no_max = await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)
    assert no_max.status_code == 400


async def test_count_tokens_and_models(http: httpx.AsyncClient) -> None:
    counted = await http.post(f"{PATH}/count_tokens", json=anthropic_chat("one two three"), headers=ANTHROPIC_HEADERS)
    assert counted.json()["input_tokens"] > 0
    models = (await http.get("/anthropic/v1/models", headers=ANTHROPIC_HEADERS)).json()
    assert "claude-sonnet-4-5" in [m["id"] for m in models["data"]]


CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
AGENT_TOOLS = [{"name": "get_weather", "input_schema": CITY}, {"name": "get_time", "input_schema": CITY}]


async def test_parallel_tool_use_blocks_with_schema_inputs_streamed_as_json_deltas(http: httpx.AsyncClient) -> None:
    body = anthropic_chat("Weather and time in Oslo?", tools=AGENT_TOOLS)
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    assert message["stop_reason"] == "tool_use"
    assert [(b["type"], b["name"], b["input"]) for b in message["content"]] == [
        ("tool_use", "get_weather", {"city": "Oslo"}),
        ("tool_use", "get_time", {"city": "Oslo"}),
    ]
    result = await stream(http, PATH, {**body, "stream": True}, ANTHROPIC_HEADERS)
    starts = [e for e in result.events if e["type"] == "content_block_start"]
    assert [(e["index"], e["content_block"]["name"], e["content_block"]["input"]) for e in starts] == [
        (0, "get_weather", {}),
        (1, "get_time", {}),
    ]
    partial = "".join(
        e["delta"]["partial_json"] for e in result.events if e["type"] == "content_block_delta" and e["index"] == 0
    )
    assert json.loads(partial) == {"city": "Oslo"}
    single = {**body, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    message = (await http.post(PATH, json=single, headers=ANTHROPIC_HEADERS)).json()
    assert len(message["content"]) == 1


async def test_tool_choice_any_and_named(http: httpx.AsyncClient) -> None:
    forced = anthropic_chat("hello", tools=AGENT_TOOLS, tool_choice={"type": "any"})
    message = (await http.post(PATH, json=forced, headers=ANTHROPIC_HEADERS)).json()
    assert [b["name"] for b in message["content"]] == ["get_weather"]
    named = anthropic_chat("hello", tools=AGENT_TOOLS, tool_choice={"type": "tool", "name": "get_time"})
    message = (await http.post(PATH, json=named, headers=ANTHROPIC_HEADERS)).json()
    assert [b["name"] for b in message["content"]] == ["get_time"]


async def test_tool_result_round_trip_is_answered_with_it(http: httpx.AsyncClient) -> None:
    body = anthropic_chat("weather in Oslo?", tools=AGENT_TOOLS)
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rain, 4 C"}]},
    ]
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    assert message["stop_reason"] == "end_turn"
    assert message["content"][0]["text"].endswith("(using tool results: rain, 4 C)")


async def test_thinking_block_and_output_format(http: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    thinking = {"type": "enabled", "budget_tokens": 1024}
    body = anthropic_chat("why?", thinking=thinking, output_format={"type": "json_schema", "schema": schema})
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    thinking, text = message["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    jsonschema_rs.validate(schema, json.loads(text["text"]))
    result = await stream(http, PATH, {**body, "stream": True}, ANTHROPIC_HEADERS)
    kinds = [e["delta"]["type"] for e in result.events if e["type"] == "content_block_delta"]
    assert kinds[0] == "thinking_delta" and "signature_delta" in kinds and kinds[-1] == "text_delta"


async def test_image_blocks_are_seen_and_bad_ones_refused(http: httpx.AsyncClient) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    body = anthropic_chat("what?")
    body["messages"][0]["content"] = [{"type": "text", "text": "what?"}, image]
    message = (await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)).json()
    assert message["content"][0]["text"].endswith("(seen 1 image)")
    image["source"] = {"type": "base64", "media_type": "image/tiff", "data": "AAAA"}
    refused = await http.post(PATH, json=body, headers=ANTHROPIC_HEADERS)
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
