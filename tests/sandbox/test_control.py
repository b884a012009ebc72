"""The /_emulator control API: per-model settings, fail_times, reset, request log, health."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from sandbox.emulator.client import EmulatorClient
from sandbox.processes import free_port, port_answers, stop_process
from tests.support.processes import REPO
from tests.support.waiting import wait_until
from tests.support.wires import (
    ANTHROPIC_HEADERS,
    GEMINI_HEADERS,
    OPENAI_AUTH,
    WIRES,
    anthropic_chat,
    gemini_chat,
    openai_chat,
    stream,
)


async def chat_status(http: httpx.AsyncClient, model: str, text: str = "hi") -> int:
    response = await http.post("/openai/v1/chat/completions", json=openai_chat(text, model), headers=OPENAI_AUTH)
    return response.status_code


async def test_model_setting_applies_to_that_model_only(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("gpt-4o", status=503)
    assert await chat_status(http, "gpt-4o") == 503
    assert await chat_status(http, "gpt-4o-mini") == 200
    emulator.reset_model("gpt-4o")
    assert await chat_status(http, "gpt-4o") == 200


async def test_settings_follow_the_model_across_wire_formats(http: httpx.AsyncClient) -> None:
    for model in ("claude-sonnet-4-5", "gemini-2.5-pro", "llama-3.1-8b-instant"):
        assert (await http.post(f"/_emulator/models/{model}", json={"status": 500})).status_code == 200
    anthropic = await http.post("/anthropic/v1/messages", json=anthropic_chat("hi"), headers=ANTHROPIC_HEADERS)
    gemini = await http.post(
        "/gemini/v1beta/models/gemini-2.5-pro:generateContent", json=gemini_chat("hi"), headers=GEMINI_HEADERS
    )
    groq = await http.post(
        "/groq/openai/v1/chat/completions", json=openai_chat("hi", "llama-3.1-8b-instant"), headers=OPENAI_AUTH
    )
    assert (anthropic.status_code, gemini.status_code, groq.status_code) == (500, 500, 500)
    assert anthropic.json()["error"]["type"] == "api_error"
    assert gemini.json()["error"]["status"] == "INTERNAL"


async def test_delete_all_resets_every_model(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("a", status=500)
    emulator.set_model("b", status=429, retry_after=3)
    listed = (await http.get("/_emulator/models")).json()["models"]
    assert listed == {"a": {"status": 500}, "b": {"status": 429, "retry_after": 3}}
    assert (await http.delete("/_emulator/models")).status_code == 200
    assert (await http.get("/_emulator/models")).json()["models"] == {}
    assert await chat_status(http, "a") == 200 and await chat_status(http, "b") == 200


async def test_fail_times_fails_the_next_n_then_recovers(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("gpt-4o", fail_times=2, status=429, retry_after=1, tokens=3)
    first = await http.post("/openai/v1/chat/completions", json=openai_chat("hi"), headers=OPENAI_AUTH)
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    settings = (await http.get("/_emulator/models/gpt-4o")).json()["settings"]
    assert settings["failures_left"] == 1
    assert await chat_status(http, "gpt-4o") == 429
    ok = await http.post("/openai/v1/chat/completions", json=openai_chat("hi"), headers=OPENAI_AUTH)
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "Emulated reply from"  # tokens=3 is kept
    assert await chat_status(http, "gpt-4o") == 200


async def test_fail_times_without_a_fault_means_503(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("gpt-4o", fail_times=1)
    assert [await chat_status(http, "gpt-4o") for _ in range(2)] == [503, 200]


async def test_fail_times_applies_to_stream_faults(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("claude-sonnet-4-5", fail_times=1, cut_after=1)
    wire = WIRES["anthropic"]
    cut = await stream(http, wire.stream_path, wire.body("hi", stream=True), wire.headers)
    whole = await stream(http, wire.stream_path, wire.body("hi", stream=True), wire.headers)
    assert cut.error is not None and not wire.finished(cut)
    assert whole.error is None and wire.finished(whole)


async def test_wildcard_applies_to_models_without_settings(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("*", status=500)
    emulator.set_model("gpt-4o", tokens=2)
    assert await chat_status(http, "anything") == 500
    assert await chat_status(http, "gpt-4o") == 200


async def test_request_directives_override_model_settings(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    emulator.set_model("gpt-4o", tokens=5, latency_ms=0)
    body = openai_chat("hi [emulate: tokens=2]")
    response = await http.post("/openai/v1/chat/completions", json=body, headers=OPENAI_AUTH)
    assert response.json()["usage"]["completion_tokens"] == 2
    assert await chat_status(http, "gpt-4o", "x [emulate: status=502]") == 502


async def test_model_names_with_slashes(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    model = "meta-llama/Llama-3.1-8B-Instruct"
    emulator.set_model(model, status=503)
    response = await http.post("/huggingface/v1/chat/completions", json=openai_chat("hi", model), headers=OPENAI_AUTH)
    assert response.status_code == 503
    assert (await http.get(f"/_emulator/models/{model}")).json()["settings"] == {"status": 503}
    emulator.reset_model(model)
    assert (await http.get(f"/_emulator/models/{model}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"bogus": 1}, {"status": 200}, {"tps": 0}, {"tokens": "many"}, ["not", "an", "object"]],
)
async def test_invalid_settings_are_rejected(http: httpx.AsyncClient, body: object) -> None:
    response = await http.post("/_emulator/models/gpt-4o", json=body)
    assert response.status_code in (400, 422)
    assert "error" in response.json()
    assert (await http.get("/_emulator/models")).json()["models"] == {}


async def test_request_log_redacts_secrets(http: httpx.AsyncClient) -> None:
    secrets = {
        "authorization": "Bearer sk-top-secret-1",
        "x-api-key": "sk-top-secret-2",
        "x-goog-api-key": "sk-top-secret-3",
        "xi-api-key": "sk-top-secret-4",
    }
    await http.post("/openai/v1/chat/completions", json=openai_chat("hi"), headers=secrets)
    await http.post("/elevenlabs/v1/text-to-speech/voice", json={"text": "hi"}, headers=secrets)
    await http.post("/gemini/v1beta/models/gemini-2.5-pro:generateContent?key=sk-top-secret-5", json=gemini_chat("hi"))
    log = (await http.get("/_emulator/requests")).json()["requests"]
    assert len(log) == 3
    dumped = json.dumps(log)
    assert "sk-top-secret" not in dumped
    headers = log[0]["headers"]
    assert headers["authorization"] == "Bearer [REDACTED]"
    assert headers["x-api-key"] == headers["x-goog-api-key"] == headers["xi-api-key"] == "[REDACTED]"
    assert log[2]["query"] == "key=%5BREDACTED%5D"


async def test_request_log_entries_and_filters(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    body = openai_chat("hi [emulate: tokens=2]", stream=True)
    await stream(http, "/openai/v1/chat/completions", body, OPENAI_AUTH)
    await http.post(
        "/anthropic/v1/messages", json=anthropic_chat("hi [emulate: status=529]"), headers=ANTHROPIC_HEADERS
    )
    await http.post("/no/such/path", json={})
    first, second, third = emulator.requests()
    assert first["path"] == "/openai/v1/chat/completions" and first["method"] == "POST"
    assert (first["provider"], first["model"], first["stream"], first["status"]) == ("openai", "gpt-4o", True, 200)
    assert first["behaviour"] == {"tokens": 2}
    assert first["body"] == body
    assert first["headers"]["content-type"] == "application/json"
    assert (second["provider"], second["status"], second["behaviour"]) == ("anthropic", 529, {"status": 529})
    assert (third["provider"], third["status"]) == ("unknown", 404)
    assert [e["provider"] for e in emulator.requests(model="claude-sonnet-4-5")] == ["anthropic"]
    assert [e["path"] for e in emulator.requests(provider="unknown")] == ["/no/such/path"]
    since = (await http.get("/_emulator/requests", params={"since": first["seq"]})).json()["requests"]
    assert [e["seq"] for e in since] == [second["seq"], third["seq"]]
    emulator.clear_requests()
    assert emulator.requests() == []


async def test_health(http: httpx.AsyncClient, emulator: EmulatorClient) -> None:
    health = (await http.get("/_emulator/health")).json()
    assert health["status"] == "ok"
    assert health["providers"]["groq"] == "/groq/openai/v1"
    assert emulator.api_base("anthropic") == emulator.base_url + "/anthropic"
    assert emulator.api_base("gemini").endswith("/gemini/v1beta")


def test_runs_as_a_module() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.emulator", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert wait_until(lambda: port_answers(port), timeout=10)
        response = httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=5)
        assert response.json()["status"] == "ok"
    finally:
        stop_process(process)
    assert process.stdout is not None
    stdout = process.stdout.read()
    assert f"openai       api_base http://127.0.0.1:{port}/openai/v1" in stdout
