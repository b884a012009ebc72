"""Flowise's OpenAI nodes are @langchain/openai (Node): chat, stream, tools with the result
sent back, embeddings, against the gateway's `/api` base path (docs/integrations/flowise.md).
One Node process runs them all (tests/platforms/node/flowise.mjs)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.support.chat_stack import Stack
from tests.support.node import run_node_script

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "Flowise"
GUIDE = "docs/integrations/flowise.md"
COVERS = {
    "chat": "test_langchain_js_as_flowise_uses_it",
    "stream": "test_langchain_js_as_flowise_uses_it",
    "tools": "test_langchain_js_as_flowise_uses_it",
    "embeddings": "test_langchain_js_as_flowise_uses_it",
}


def check_weather_call(call: dict[str, Any]) -> None:
    """Any arguments the tool's schema accepts (the emulator decides which)."""
    assert call["name"] == "get_weather"
    assert isinstance(call["args"], dict) and set(call["args"]) <= {"city"}
    assert isinstance(call["args"].get("city", "Paris"), str)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


def test_langchain_js_as_flowise_uses_it(stack: Stack) -> None:
    seen = run_node_script("flowise.mjs", f"{stack.base_url}/api")
    assert "Say hello to Flowise" in seen["chat"]
    assert len([p for p in seen["stream"] if p]) >= 2 and "Stream to Flowise" in "".join(seen["stream"])
    assert seen["tool_calls"]
    for call in seen["tool_calls"] + seen["streamed_tool_calls"]:
        check_weather_call(call)
    assert seen["after_tool"]["content"] and not seen["after_tool"]["tool_calls"]
    vectors = seen["embeddings"]
    assert len(vectors) == 3 and cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    urls = {r["url"].removeprefix(stack.base_url) for r in seen["requests"]}
    assert urls == {"/api/chat/completions", "/api/embeddings"}
    assert {r["model"] for r in seen["requests"]} == {"mpc/chat_general", "mpc/embed_text"}
