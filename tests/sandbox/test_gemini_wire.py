"""Gemini generateContent / streamGenerateContent / batchEmbedContents (api_base /gemini/v1beta)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.wires import GEMINI_HEADERS, gemini_chat, stream

BASE = "/gemini/v1beta/models/gemini-2.5-pro"


async def test_generate_content(http: httpx.AsyncClient) -> None:
    body = gemini_chat("Hello there", system_instruction={"parts": [{"text": "Be brief."}]})
    response = await http.post(f"{BASE}:generateContent", json=body, headers=GEMINI_HEADERS)
    assert response.status_code == 200
    data = response.json()
    [candidate] = data["candidates"]
    assert candidate["content"] == {
        "parts": [{"text": "Emulated reply from gemini-2.5-pro to: Hello there"}],
        "role": "model",
    }
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    usage = data["usageMetadata"]
    assert usage["candidatesTokenCount"] == 7
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 7
    assert data["modelVersion"] == "gemini-2.5-pro"
    assert data["responseId"]


async def test_stream_sse_crlf_no_done(http: httpx.AsyncClient) -> None:
    result = await stream(http, f"{BASE}:streamGenerateContent?alt=sse", gemini_chat("Hello there"), GEMINI_HEADERS)
    assert result.status == 200 and result.error is None and not result.invalid
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.raw.startswith(b"data: {") and result.raw.endswith(b"}\r\n\r\n")
    assert result.raw.count(b"\r\n\r\n") == len(result.events)
    assert b"[DONE]" not in result.raw
    *middle, last = result.events
    text = "".join(p.get("text", "") for e in result.events for p in e["candidates"][0]["content"]["parts"])
    assert text == "Emulated reply from gemini-2.5-pro to: Hello there"
    assert all("finishReason" not in e["candidates"][0] and "usageMetadata" not in e for e in middle)
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"]["candidatesTokenCount"] == len(middle)


async def test_stream_without_alt_sse_is_a_json_array(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{BASE}:streamGenerateContent", json=gemini_chat("hi"), headers=GEMINI_HEADERS)
    chunks = json.loads(response.content)
    assert isinstance(chunks, list) and chunks[-1]["usageMetadata"]


@pytest.mark.parametrize(
    ("config_key", "limit_key"),
    [("generationConfig", "maxOutputTokens"), ("generation_config", "max_output_tokens")],
)
async def test_generation_config_in_both_cases(http: httpx.AsyncClient, config_key: str, limit_key: str) -> None:
    body = gemini_chat("hello", **{config_key: {limit_key: 2}})
    data = (await http.post(f"{BASE}:generateContent", json=body, headers=GEMINI_HEADERS)).json()
    assert data["candidates"][0]["content"]["parts"][0]["text"] == "Emulated reply"
    assert data["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_function_call(http: httpx.AsyncClient) -> None:
    tools = [{"function_declarations": [{"name": "lookup", "parameters": {"type": "object"}}]}]
    data = (
        await http.post(f"{BASE}:generateContent", json=gemini_chat("call tool", tools=tools), headers=GEMINI_HEADERS)
    ).json()
    assert data["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "lookup", "args": {}}}]


async def test_batch_embed_contents(http: httpx.AsyncClient) -> None:
    model = "text-embedding-004"
    body = {
        "requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": "alpha"}]}},
            {"model": f"models/{model}", "content": {"parts": [{"text": "beta"}]}},
        ]
    }
    path = f"/gemini/v1beta/models/{model}:batchEmbedContents"
    first = (await http.post(path, json=body, headers=GEMINI_HEADERS)).json()
    second = (await http.post(path, json=body, headers=GEMINI_HEADERS)).json()
    assert [len(e["values"]) for e in first["embeddings"]] == [768, 768]  # the model's own width
    assert first == second
    assert first["embeddings"][0] != first["embeddings"][1]


async def test_missing_key_is_403_in_google_shape(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{BASE}:generateContent", json=gemini_chat("hi"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == 403 and error["status"] == "PERMISSION_DENIED" and error["message"]


async def test_models_list_and_unknown_action(http: httpx.AsyncClient) -> None:
    models = (await http.get("/gemini/v1beta/models", headers=GEMINI_HEADERS)).json()["models"]
    assert "models/gemini-2.5-pro" in [m["name"] for m in models]
    response = await http.post(f"{BASE}:frobnicate", json={}, headers=GEMINI_HEADERS)
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


CITY = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}, "required": ["city"]}


async def test_function_calls_follow_the_declarations_and_tool_config(http: httpx.AsyncClient) -> None:
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": CITY}, {"name": "get_time"}]}]
    body = gemini_chat("Weather in Lima?", tools=tools)
    data = (await http.post(f"{BASE}:generateContent", json=body, headers=GEMINI_HEADERS)).json()
    assert data["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Lima", "days": 1}}}
    ]
    named = {**body, "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}}
    data = (await http.post(f"{BASE}:generateContent", json=named, headers=GEMINI_HEADERS)).json()
    assert data["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "get_time", "args": {}}}]
    body["contents"] += [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}}]},
    ]
    data = (await http.post(f"{BASE}:generateContent", json=body, headers=GEMINI_HEADERS)).json()
    assert data["candidates"][0]["content"]["parts"][0]["text"].endswith('(using tool results: {"sky":"clear"})')


async def test_thought_parts_and_response_schema(http: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    config = {"response_mime_type": "application/json", "response_json_schema": schema}
    body = gemini_chat("why?", generationConfig={**config, "thinkingConfig": {"includeThoughts": True}})
    data = (await http.post(f"{BASE}:generateContent", json=body, headers=GEMINI_HEADERS)).json()
    thought, answer = data["candidates"][0]["content"]["parts"]
    assert thought["thought"] is True and thought["text"].startswith("Emulated reasoning")
    assert json.loads(answer["text"]) == {"a": 1}
    assert data["usageMetadata"]["thoughtsTokenCount"] > 0
