"""Activepieces' AI pieces: the `ai` SDK with @ai-sdk/openai-compatible (Node): generateText,
streamText with streamed usage, tools (called, executed, answered), embeddings and an image
(docs/integrations/activepieces.md). One Node process (tests/platforms/node/activepieces.mjs)."""

from __future__ import annotations

import pytest

from tests.support.chat_stack import Stack
from tests.support.node import run_node_script

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "Activepieces"
GUIDE = "docs/integrations/activepieces.md"
COVERS = {
    "chat": "test_ai_sdk_as_activepieces_uses_it",
    "stream": "test_ai_sdk_as_activepieces_uses_it",
    "tools": "test_ai_sdk_as_activepieces_uses_it",
    "embeddings": "test_ai_sdk_as_activepieces_uses_it",
    "images": "test_ai_sdk_as_activepieces_uses_it",
}


def test_ai_sdk_as_activepieces_uses_it(stack: Stack) -> None:
    seen = run_node_script("activepieces.mjs", f"{stack.base_url}/api")
    assert "Say hello to Activepieces" in seen["generate"]["text"]
    assert seen["generate"]["finishReason"] == "stop" and seen["generate"]["usage"]["totalTokens"] > 0
    stream = seen["stream"]
    assert len([p for p in stream["pieces"] if p]) >= 2 and "Stream to Activepieces" in "".join(stream["pieces"])
    assert stream["usage"]["outputTokens"] > 0  # the usage chunk asked for with stream_options
    calls = seen["tool_calls"] + seen["streamed_tool_calls"]
    assert seen["tool_calls"] and seen["streamed_tool_calls"]
    for call in calls:  # any arguments the schema accepts (the emulator decides which)
        assert call["toolName"] == "get_weather" and set(call["input"]) <= {"city"}
    assert [r["output"].startswith("Sunny in") for r in seen["tool_results"]] == [True] * len(seen["tool_calls"])
    assert seen["after_tool"]["text"] and seen["after_tool"]["toolCalls"] == 0
    assert len(seen["embeddings"]) == 3 and len({len(v) for v in seen["embeddings"]}) == 1
    assert seen["image"]["count"] == 1 and seen["image"]["mediaType"] == "image/png" and seen["image"]["bytes"] > 0
