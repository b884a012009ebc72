"""Langflow's model components are langchain-openai's `ChatOpenAI` and `OpenAIEmbeddings`
(docs/integrations/langflow.md). Its "OpenAI Compatible" provider appends `/v1` to the base
URL it is given, so these clients are pointed at `…/api/v1`, as Langflow would point them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import llama_index.core
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "Langflow"
GUIDE = "docs/integrations/langflow.md"
COVERS = {
    "chat": "test_chat_and_stream",
    "stream": "test_chat_and_stream",
    "tools": "test_agent_tool_call_round_trip",
    "embeddings": "test_embeddings_send_token_ids_as_langflow_does",
}


@tool
def get_weather(city: str = "Paris") -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 °C."


def chat(stack: Stack, **kwargs: Any) -> ChatOpenAI:
    # What Langflow builds from "Base URL: http://host:3000/api" after appending /v1.
    return ChatOpenAI(
        model="mpc/chat_general",
        base_url=f"{stack.base_url}/api/v1",
        api_key=TEST_API_KEY,  # type: ignore[arg-type]
        max_retries=0,
        timeout=30,
        **kwargs,
    )


def test_chat_and_stream(stack: Stack) -> None:
    reply = chat(stack).invoke("Say hello to Langflow.")
    assert isinstance(reply.content, str) and "Say hello to Langflow" in reply.content
    chunks = list(chat(stack, streaming=True).stream("Stream to Langflow, please."))
    assert len([c for c in chunks if c.content]) >= 2
    assert "Stream to Langflow" in "".join(str(c.content) for c in chunks)


def check_weather_call(call: dict[str, Any]) -> None:
    """Any arguments the tool's schema accepts (the emulator decides which)."""
    assert call["name"] == "get_weather"
    assert isinstance(call["args"], dict) and set(call["args"]) <= {"city"}
    assert isinstance(call["args"].get("city", "Paris"), str)


def test_agent_tool_call_round_trip(stack: Stack) -> None:
    """What Langflow's Agent component does: bind tools, run the call, send the result back."""
    agent = chat(stack).bind_tools([get_weather], tool_choice="required")
    question = HumanMessage("What is the weather in Paris?")
    first = agent.invoke([question])
    assert first.tool_calls and len(first.tool_calls) >= 1
    for call in first.tool_calls:
        check_weather_call(dict(call))
    results = [ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]) for call in first.tool_calls]
    final = chat(stack).bind_tools([get_weather]).invoke([question, first, *results])
    assert final.content and not final.tool_calls
    # Streamed, the call arrives in deltas that langchain joins into the same shape.
    streamed: AIMessageChunk | None = None
    for piece in chat(stack, streaming=True).bind_tools([get_weather], tool_choice="required").stream([question]):
        streamed = piece if streamed is None else streamed + piece  # type: ignore[assignment]
    assert streamed is not None and streamed.tool_calls
    check_weather_call(dict(streamed.tool_calls[0]))


def test_embeddings_send_token_ids_as_langflow_does(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`OpenAIEmbeddings` tokenizes with tiktoken and sends integer arrays, asking for base64.
    tiktoken downloads its encoding on first use; offline, the copy LlamaIndex ships is used."""
    cache = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    sent: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> None:
        sent.append(json.loads(request.content))

    embeddings = OpenAIEmbeddings(
        model="mpc/embed_text",
        base_url=f"{stack.base_url}/api/v1",
        api_key=TEST_API_KEY,  # type: ignore[arg-type]
        max_retries=0,
        http_client=httpx.Client(event_hooks={"request": [record]}, timeout=30),
    )
    texts = ["a cat sat on the mat", "a cat sat on a mat", "stock market report"]
    vectors = embeddings.embed_documents(texts)
    query = embeddings.embed_query("a cat on a mat")
    assert sent and all(isinstance(item, list) and all(isinstance(t, int) for t in item) for item in sent[0]["input"])
    assert sent[0]["encoding_format"] == "base64"
    assert len(vectors) == 3 and all(len(v) == len(query) for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
