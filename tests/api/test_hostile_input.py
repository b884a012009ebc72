"""Input that must not crash the gateway: deep nesting on every JSON route, and chat bodies
checked against OpenAI's schema (a 400 naming the field's path), over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from api.body import MAX_JSON_DEPTH, json_depth
from api.chat_request import parse_chat_request
from api.errors import InvalidRequest
from tests.support.envelopes import assert_envelope

JSON_ROUTES = (
    "/api/select-model",  # the fast lane
    "/api/chat/completions",  # the fast lane
    "/api/orchestrate",
    "/api/jobs",
    "/api/embeddings",
    "/api/images/generations",
    "/api/audio/speech",
    "/api/videos",
)


def nested(depth: int) -> bytes:
    return b'{"task":"chat_general","input":' + b"[" * depth + b"]" * depth + b"}"


def test_a_body_nested_100000_deep_is_a_400_on_every_json_route(client: httpx.Client) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in JSON_ROUTES:
        for body in (deep, nested(100_000), nested(MAX_JSON_DEPTH + 1)):
            response = client.post(path, content=body, headers={"Content-Type": "application/json"})
            error = assert_envelope(response, 400, "json_too_deep")
            assert f"more than {MAX_JSON_DEPTH} levels" in error["message"], path


def test_nesting_up_to_the_cap_and_brackets_inside_strings_are_accepted(client: httpx.Client) -> None:
    # select-model estimates the input's tokens by walking it: a value at the cap is fine.
    within = nested(MAX_JSON_DEPTH - 1)
    assert client.post("/api/select-model", content=within).status_code == 200
    brackets_in_text = msgspec.json.encode({"task": "chat_general", "input": "[" * 5000 + '\\"{' * 100})
    assert client.post("/api/select-model", content=brackets_in_text).status_code == 200


def test_json_in_a_form_field_has_the_same_cap(client: httpx.Client) -> None:
    # A multipart form, as the openai SDK sends a video request.
    form = {"model": (None, "sora-2"), "prompt": (None, "a cat"), "providers": (None, "[" * 5000 + "]" * 5000)}
    error = assert_envelope(client.post("/api/videos", files=form), 400, "json_too_deep")
    assert error["param"] == "providers"


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a":[[1,[2]]]}', 4),
        (b"[" * 80 + b"]" * 80, 80),
        (b'{"s":"' + b"[" * 200 + b'"}', 1),  # brackets inside a string nest nothing
        (b'{"s":"\\"' + b"{" * 200 + b'","t":"\\\\"}', 1),  # escaped quotes and backslashes
        (b'["\\\\",' + b"[" * 70 + b"]" * 70 + b"]", 71),
    ],
)
def test_json_depth(raw: bytes, depth: int) -> None:
    measured = json_depth(raw)
    # Within the cap it may be a bound (the bracket count); beyond it, exact.
    assert measured == depth if depth > MAX_JSON_DEPTH else depth <= measured <= MAX_JSON_DEPTH


HI = {"role": "user", "content": "hi"}


def chat(*messages: Any, **fields: Any) -> dict[str, Any]:
    """A chat body: `messages` (one user "hi" if none) and other fields."""
    return {"messages": list(messages) or [HI], **fields}


def user_part(part: Any) -> dict[str, Any]:
    return chat({"role": "user", "content": [part]})


def function_tool(**function: Any) -> dict[str, Any]:
    return chat(tools=[{"type": "function", "function": function}])


BAD_CHAT_BODIES: list[tuple[dict[str, Any], str]] = [
    (chat({"role": "nobody", "content": 3}), "messages[0].role"),
    (chat({"role": "user"}), "messages[0].content"),
    (chat({"role": "user", "content": 3}), "messages[0].content"),
    (chat({"content": "no role"}), "messages[0].role"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    (
        chat({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}),
        "messages[0].content[0].type",
    ),
    (user_part({"type": "video"}), "messages[0].content[0].type"),
    (user_part({"type": "text"}), "messages[0].content[0].text"),
    (user_part({"type": "image_url", "image_url": {}}), "messages[0].content[0].image_url.url"),
    (user_part({"type": "input_audio", "input_audio": {"data": "AA=="}}), "messages[0].content[0].input_audio.format"),
    (user_part({"type": "file", "file": "f"}), "messages[0].content[0].file"),
    (chat({"role": "assistant", "content": None}), "messages[0].content"),
    (chat({"role": "assistant"}), "messages[0].content"),
    (
        chat({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}),
        "messages[0].tool_calls[0].function.arguments",
    ),
    (chat({"role": "tool", "content": "42"}), "messages[0].tool_call_id"),
    (chat({"role": "function", "content": "42"}), "messages[0].name"),
    (chat(temperature=2.5), "temperature"),
    (chat(temperature="hot"), "temperature"),
    (chat(top_p=1.5), "top_p"),
    (chat(n=0), "n"),
    (chat(max_tokens=0), "max_tokens"),
    (chat(max_completion_tokens=-1), "max_completion_tokens"),
    (chat(presence_penalty=3), "presence_penalty"),
    (chat(top_logprobs=21), "top_logprobs"),
    (chat(stop=["a", "b", "c", "d", "e"]), "stop"),
    (chat(stream="yes"), "stream"),
    (function_tool(name="has space"), "tools[0].function.name"),
    (function_tool(name="f", parameters={"type": "string"}), "tools[0].function.parameters.type"),
    (function_tool(name="f", parameters=[]), "tools[0].function.parameters"),
    (chat(tools=[{"type": "retrieval"}]), "tools[0].type"),
    (chat(tool_choice="sometimes"), "tool_choice"),
    (chat(response_format={"type": "xml"}), "response_format.type"),
]


@pytest.mark.parametrize(("body", "param"), BAD_CHAT_BODIES, ids=[param for _, param in BAD_CHAT_BODIES])
def test_chat_body_violations_name_the_path(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_chat_request(msgspec.json.encode(body))
    assert raised.value.status == 400 and raised.value.param == param, raised.value.message


def test_chat_body_violations_over_http(client: httpx.Client) -> None:
    # A few of the table's bodies through the fast lane, to see the envelope on the wire.
    for body, param in BAD_CHAT_BODIES[:4]:
        error = assert_envelope(client.post("/api/chat/completions", json=body), 400, "invalid_value")
        assert error["param"] == param
    error = assert_envelope(client.post("/api/chat/completions", json=BAD_CHAT_BODIES[0][0]), 400)
    assert "allowed roles: system, developer, user, assistant, tool, function" in error["message"]
    # A job with a text task checks its input's messages the same way.
    job = {"task": "chat_general", "input": {"messages": [{"role": "user"}]}}
    assert assert_envelope(client.post("/api/jobs", json=job), 400)["param"] == "input.messages[0].content"


def test_every_openai_shape_is_accepted_and_unknown_fields_pass_on() -> None:
    body = {
        "model": "auto",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Answer in English."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                ],
                "name": "ann",
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "function", "name": "legacy", "content": None},
            {"role": "user", "content": "thanks", "platform_trace": {"id": 7}},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "look",
                    "description": "look closely",
                    "parameters": {"type": "object", "properties": {"what": {"type": "string"}}},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}},
        "temperature": 0,
        "top_p": 1,
        "n": 1,
        "max_tokens": 1,
        "stop": "\n",
        "logit_bias": {"50256": -100},
        "seed": 3,
        "reasoning_effort": "minimal",
        "platform_field": [1, 2, 3],  # not OpenAI's: passed on untouched
    }
    request = parse_chat_request(msgspec.json.encode(body))
    assert request.forwarded["platform_field"] == [1, 2, 3]
    assert request.forwarded["messages"][-1]["platform_trace"] == {"id": 7}
    assert "model" not in request.forwarded
