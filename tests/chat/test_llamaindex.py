"""LlamaIndex's OpenAI-like LLM client against the gateway, as a RAG pipeline would use it."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow


def llm(stack: Stack) -> OpenAILike:
    return OpenAILike(
        model="auto",
        api_base=f"{stack.base_url}/api",
        api_key=TEST_API_KEY,
        is_chat_model=True,
        max_retries=0,
        timeout=30,
    )


def test_chat_and_complete(stack: Stack) -> None:
    client = llm(stack)
    reply = client.chat([ChatMessage(role="user", content="What is retrieval-augmented generation?")])
    assert reply.message.content and "retrieval-augmented" in reply.message.content
    assert client.complete("Rewrite this query: cheap flights").text


def test_stream_chat(stack: Stack) -> None:
    pieces = [r.delta for r in llm(stack).stream_chat([ChatMessage(role="user", content="stream please")]) if r.delta]
    assert len(pieces) >= 2 and "".join(pieces).strip()


async def test_async_chat(stack: Stack) -> None:
    reply = await llm(stack).achat([ChatMessage(role="user", content="async hello")])
    assert reply.message.content
