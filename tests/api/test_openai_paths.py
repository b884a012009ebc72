"""The paths OpenAI clients assume (`/v1/…`, `/api/v1/…`, the chat picker's `/chat/v1/…`) are
the `/api/…` routes, with the same authentication and errors; and the legacy completions
body is checked before any job exists."""

from __future__ import annotations

import httpx

from tests.support.envelopes import assert_envelope

ALIASES = ("/api/v1", "/v1", "/chat/v1")


def test_aliases_answer_as_api_and_need_the_key(client: httpx.Client) -> None:
    for prefix in ALIASES:
        check_alias(client, prefix)


def check_alias(client: httpx.Client, prefix: str) -> None:
    assert client.get(f"{prefix}/models/claude-sonnet").json() == client.get("/api/models/claude-sonnet").json()
    assert_envelope(client.get(f"{prefix}/models", headers={"Authorization": "Bearer nope"}), 401, None)
    # The fast lane serves the alias too: the body is checked there, before any job exists.
    bad = assert_envelope(client.post(f"{prefix}/chat/completions", json={"messages": []}), 400, "invalid_value")
    assert bad["param"] == "messages"
    assert_envelope(client.post(f"{prefix}/completions", json={"prompt": ""}), 400, "invalid_value")
    # Only OpenAI's resources are aliased; the gateway's own routes stay under /api.
    assert client.post(f"{prefix}/jobs", json={"task": "summarize"}).status_code == 404


def test_chat_picker_base_lists_what_a_chat_can_use(client: httpx.Client) -> None:
    everything = client.get("/v1/models").json()["data"]
    picker = client.get("/chat/v1/models").json()["data"]
    assert picker and len(picker) < len(everything)
    assert {m["id"] for m in picker} == {m["id"] for m in client.get("/api/models?modality=text").json()["data"]}
    assert all(m.get("modality") == "text" or m.get("mpc", {}).get("modality") == "text" for m in picker)


BAD_COMPLETIONS: list[tuple[dict[str, object], str, str]] = [
    ({"model": "auto"}, "prompt", "invalid_value"),
    ({"prompt": 7}, "prompt", "invalid_value"),
    ({"prompt": ["one", "two"]}, "prompt", "unsupported_value"),
    ({"prompt": [[1, 2, 3]]}, "prompt", "unsupported_value"),
    ({"prompt": "hi", "echo": True}, "echo", "unsupported_value"),
    ({"prompt": "hi", "suffix": "end"}, "suffix", "unsupported_value"),
    ({"prompt": "hi", "logprobs": 2}, "logprobs", "unsupported_value"),
    ({"prompt": "hi", "best_of": 3}, "best_of", "unsupported_value"),
    ({"prompt": "hi", "stream": "yes"}, "stream", "invalid_value"),
    ({"prompt": "hi", "model": "openai/text-embedding-3-small"}, "model", "invalid_value"),
]


def test_completions_refuse_what_a_chat_model_cannot_do(client: httpx.Client) -> None:
    for body, param, code in BAD_COMPLETIONS:
        error = assert_envelope(client.post("/api/completions", json=body), 400, code)
        assert error["param"] == param, body
    assert_envelope(client.post("/v1/completions", content=b"[1]"), 400, "invalid_value")
    assert_envelope(client.post("/v1/completions", content=b"{"), 400, "invalid_json")
