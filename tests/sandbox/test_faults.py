"""Injected faults, per request (message directives, x-emulator header), on every wire format."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.wires import WIRES, Wire, stream

WIRE_NAMES = sorted(WIRES)
EXPECTED_KIND = {
    ("openai", 429): "requests",
    ("openai", 500): "server_error",
    ("openai", 503): "server_error",
    ("anthropic", 429): "rate_limit_error",
    ("anthropic", 500): "api_error",
    ("anthropic", 503): "api_error",
    ("gemini", 429): "RESOURCE_EXHAUSTED",
    ("gemini", 500): "INTERNAL",
    ("gemini", 503): "UNAVAILABLE",
}


@pytest.fixture(params=WIRE_NAMES)
def wire(request: pytest.FixtureRequest) -> Wire:
    return WIRES[request.param]


@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("streaming", [False, True])
async def test_http_errors_in_provider_shape(http: httpx.AsyncClient, wire: Wire, status: int, streaming: bool) -> None:
    directive = f"[emulate: status={status} retry_after=1]" if status == 429 else f"[emulate: status={status}]"
    response = await http.post(
        wire.post_path(stream=streaming), json=wire.body(f"hi {directive}", stream=streaming), headers=wire.headers
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    kind, message = wire.error_of(response.json())
    assert kind == EXPECTED_KIND[("openai" if wire.name == "groq" else wire.name, status)]
    assert message
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


async def test_retry_after_alone_means_429(http: httpx.AsyncClient) -> None:
    wire = WIRES["gemini"]
    response = await http.post(wire.path, json=wire.body("x [emulate: retry_after=2]"), headers=wire.headers)
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["details"][0]["retryDelay"] == "2s"


async def test_hang_never_answers(http: httpx.AsyncClient, wire: Wire) -> None:
    streaming = wire.name in ("anthropic", "gemini")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            wire.post_path(stream=streaming),
            json=wire.body("x [emulate: hang]", stream=streaming),
            headers=wire.headers,
            timeout=httpx.Timeout(5.0, read=0.2),
        )
    assert time.monotonic() - started >= 0.2
    # the server is still healthy once the client went away
    assert (await http.get("/_emulator/health")).json()["status"] == "ok"


async def test_cut_after_drops_the_connection(http: httpx.AsyncClient, wire: Wire) -> None:
    result = await stream(
        http, wire.stream_path, wire.body("Hello there [emulate: cut_after=3]", stream=True), wire.headers
    )
    assert result.status == 200
    assert isinstance(result.error, httpx.RemoteProtocolError)
    assert wire.content_count(result.events) == 3
    assert not wire.finished(result)
    assert not result.invalid


async def test_cut_after_beyond_the_answer_still_cuts_before_the_end(http: httpx.AsyncClient) -> None:
    wire = WIRES["openai"]
    result = await stream(http, wire.stream_path, wire.body("hi [emulate: cut_after=500]", stream=True), wire.headers)
    assert isinstance(result.error, httpx.RemoteProtocolError)
    assert wire.content_count(result.events) == 6
    assert not result.done
    assert all(e["choices"][0]["finish_reason"] is None for e in result.events)


async def test_cut_after_non_stream_truncates_the_body(http: httpx.AsyncClient) -> None:
    wire = WIRES["openai"]
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(wire.path, json=wire.body("hi [emulate: cut_after=0]"), headers=wire.headers)


async def test_malformed_after_sends_invalid_json(http: httpx.AsyncClient, wire: Wire) -> None:
    body = wire.body("Hello there [emulate: malformed_after=2]", stream=True)
    result = await stream(http, wire.stream_path, body, wire.headers)
    assert result.status == 200 and result.error is None
    assert wire.content_count(result.events) == 2
    assert len(result.invalid) == 1
    assert not wire.finished(result)


async def test_malformed_non_stream_body(http: httpx.AsyncClient) -> None:
    wire = WIRES["anthropic"]
    response = await http.post(wire.path, json=wire.body("hi [emulate: malformed_after=0]"), headers=wire.headers)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_error_after_sends_the_provider_stream_error(http: httpx.AsyncClient, wire: Wire) -> None:
    result = await stream(
        http, wire.stream_path, wire.body("Hello there [emulate: error_after=2]", stream=True), wire.headers
    )
    assert result.error is None and not result.invalid
    assert wire.content_count(result.events) == 2
    last = result.events[-1]
    if wire.name == "anthropic":
        assert last["type"] == "error" and last["error"]["type"] == "overloaded_error"
    else:
        assert "error" in last and "choices" not in last and "candidates" not in last
    assert not wire.finished(result)


async def test_stall_after_goes_silent(http: httpx.AsyncClient) -> None:
    wire = WIRES["anthropic"]
    body = wire.body("Hello there [emulate: stall_after=1]", stream=True)
    result = await stream(http, wire.stream_path, body, wire.headers, read_limit_s=0.2)
    assert isinstance(result.error, httpx.ReadTimeout)
    assert wire.content_count(result.events) == 1


async def test_ttft_delays_the_first_chunk(http: httpx.AsyncClient, wire: Wire) -> None:
    first: float | None = None
    started = time.monotonic()
    async with http.stream(
        "POST", wire.stream_path, json=wire.body("hi [emulate: ttft_ms=150]", stream=True), headers=wire.headers
    ) as response:
        async for _ in response.aiter_raw():
            first = first or time.monotonic() - started
    assert first is not None and 0.14 <= first < 2.0


async def test_tps_paces_the_tokens(http: httpx.AsyncClient) -> None:
    wire = WIRES["openai"]
    body = wire.body("hi [emulate: tokens=11 tps=50]", stream=True)
    started = time.monotonic()
    result = await stream(http, wire.stream_path, body, wire.headers)
    elapsed = time.monotonic() - started
    assert wire.content_count(result.events) == 11
    assert 10 / 50 - 0.01 <= elapsed < 2.0


async def test_latency_delays_a_non_stream_answer(http: httpx.AsyncClient, wire: Wire) -> None:
    started = time.monotonic()
    response = await http.post(wire.path, json=wire.body("hi [emulate: latency_ms=150]"), headers=wire.headers)
    assert response.status_code == 200
    assert 0.14 <= time.monotonic() - started < 2.0


@pytest.mark.parametrize("tokens", [1, 3, 20])
async def test_tokens_sets_the_answer_length(http: httpx.AsyncClient, wire: Wire, tokens: int) -> None:
    result = await stream(
        http, wire.stream_path, wire.body(f"hi [emulate: tokens={tokens}]", stream=True), wire.headers
    )
    assert wire.content_count(result.events) == tokens
    assert wire.finished(result)


async def test_directive_text_is_not_echoed(http: httpx.AsyncClient) -> None:
    wire = WIRES["openai"]
    body = (await http.post(wire.path, json=wire.body("Hello [emulate: tokens=20] world"), headers=wire.headers)).json()
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("Emulated reply from gpt-4o to: Hello world lorem")
    assert "emulate" not in content
    assert body["usage"]["completion_tokens"] == 20


async def test_x_emulator_header(http: httpx.AsyncClient) -> None:
    wire = WIRES["openai"]
    headers = {**wire.headers, "x-emulator": "status=500"}
    response = await http.post(wire.path, json=wire.body("hi"), headers=headers)
    assert response.status_code == 500
    headers = {**wire.headers, "x-emulator": "[emulate: tokens=2]"}
    response = await http.post(wire.path, json=wire.body("hi"), headers=headers)
    assert response.json()["choices"][0]["message"]["content"] == "Emulated reply"


@pytest.mark.parametrize("directive", ["bogus=1", "status=200", "tokens=many", "fail_times=2"])
async def test_bad_directive_is_a_400(http: httpx.AsyncClient, wire: Wire, directive: str) -> None:
    response = await http.post(wire.path, json=wire.body(f"hi [emulate: {directive}]"), headers=wire.headers)
    assert response.status_code == 400
    _, message = wire.error_of(response.json())
    assert message.startswith("emulator:") and directive.split("=")[0] in message


async def test_embedding_faults(http: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": "x [emulate: status=503]"}
    response = await http.post("/openai/v1/embeddings", json=body, headers=WIRES["openai"].headers)
    assert response.status_code == 503
    gemini = {"requests": [{"content": {"parts": [{"text": "x [emulate: status=429]"}]}}]}
    path = "/gemini/v1beta/models/text-embedding-004:batchEmbedContents"
    response = await http.post(path, json=gemini, headers=WIRES["gemini"].headers)
    assert response.status_code == 429 and response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_truncate_after_ends_cleanly_without_terminator(http: httpx.AsyncClient, wire: Wire) -> None:
    body = wire.body("Hello there [emulate: truncate_after=2]", stream=True)
    result = await stream(http, wire.stream_path, body, wire.headers)
    assert result.status == 200 and result.error is None and not result.invalid
    assert wire.content_count(result.events) == 2
    assert not wire.finished(result)
