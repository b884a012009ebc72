"""LlamaIndex against the gateway as a RAG pipeline uses it (docs/integrations/llamaindex.md):
`OpenAILike` as a chat model and as a completion model (its default, which calls
`/completions`), `OpenAILikeEmbedding`, and a small `VectorStoreIndex` built and queried
through MPC-API alone."""

from __future__ import annotations

import json

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "LlamaIndex"
GUIDE = "docs/integrations/llamaindex.md"
COVERS = {
    "chat": "test_chat_and_complete",
    "stream": "test_stream_chat",
    "completions": "test_completion_model_calls_the_legacy_endpoint",
    "embeddings": "test_vector_store_index_query",
}


def llm(stack: Stack, *, chat: bool = True, model: str = "auto") -> OpenAILike:
    return OpenAILike(
        model=model,
        api_base=f"{stack.base_url}/api",
        api_key=TEST_API_KEY,
        is_chat_model=chat,
        max_retries=0,
        timeout=30,
    )


def embedder(stack: Stack) -> OpenAILikeEmbedding:
    return OpenAILikeEmbedding(
        model_name="mpc/embed_text", api_base=f"{stack.base_url}/api", api_key=TEST_API_KEY, max_retries=0
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


def test_completion_model_calls_the_legacy_endpoint(stack: Stack) -> None:
    """`OpenAILike` without `is_chat_model=True` (its default) sends `prompt` to `/completions`."""
    client = llm(stack, chat=False, model="mpc/summarize:draft")
    done = client.complete("Summarize: the tide comes in twice a day.")
    assert "the tide comes in twice a day" in done.text
    pieces = [r.delta for r in client.stream_complete("Summarize: streams arrive in pieces.") if r.delta]
    assert len(pieces) >= 2 and "streams arrive in pieces" in "".join(pieces)


DOCUMENTS = {
    "tides": "Tides rise and fall twice a day, pulled by the moon and the sun.",
    "bread": "Sourdough bread rises slowly because wild yeast ferments the dough.",
    "volcano": "A volcano erupts when molten rock, ash and gas escape from the crust.",
}


def test_vector_store_index_query(stack: Stack) -> None:
    embed = embedder(stack)
    vectors = embed.get_text_embedding_batch(list(DOCUMENTS.values()))
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1
    index = VectorStoreIndex.from_documents(
        [Document(text=text, doc_id=name) for name, text in DOCUMENTS.items()], embed_model=embed
    )
    engine = index.as_query_engine(llm=llm(stack, model="mpc/rag_answer"), similarity_top_k=1)
    answer = engine.query("Why does sourdough bread rise slowly?")
    assert [node.node.ref_doc_id for node in answer.source_nodes] == ["bread"]
    assert str(answer).startswith("Emulated reply")
    # The retrieved passage, and only it, reached the provider in the answering call.
    prompt = json.dumps(stack.emulator.requests()[-1]["body"])
    assert "wild yeast" in prompt and "molten rock" not in prompt
