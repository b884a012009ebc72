"""Deterministic answers: the same request always gets the same text, tokens and vectors.

The reply text is ``Emulated reply from <model> to: <first 40 chars of the last user
message>`` (directives removed), one token per word. ``tokens=N`` pads it with filler words
or cuts it to N tokens; the request's own output limit (``max_tokens`` and relatives) cuts
it too and then the finish reason is "length".
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.emulator.behaviour import strip_directives

SNIPPET_CHARS = 40
EMBEDDING_DIM = 8
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
TOOL_TRIGGER = "call tool"
TOOL_ARGUMENTS = "{}"

Finish = Literal["stop", "length", "tool"]


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """What a wire module extracts from a request body, provider-neutral."""

    model: str
    last_user_text: str = ""
    #: the conversation ends with a user turn of plain text (not a tool result)
    ends_with_user_text: bool = True
    all_texts: tuple[str, ...] = ()
    turns: int = 1
    tool_names: tuple[str, ...] = ()
    #: the request forces a tool call (tool_choice required / named / any)
    forced_tool: str | None = None
    max_tokens: int | None = None
    json_mode: bool = False

    def prompt_tokens(self) -> int:
        words = sum(len(text.split()) for text in self.all_texts)
        return max(1, words + 3 * self.turns)

    def wants_tool(self) -> str | None:
        if not self.tool_names or not self.ends_with_user_text:
            return None
        if self.forced_tool is not None:
            return self.forced_tool
        if TOOL_TRIGGER in self.last_user_text.lower():
            return self.tool_names[0]
        return None


@dataclass(frozen=True, kw_only=True)
class Reply:
    model: str
    tokens: tuple[str, ...]
    finish: Finish
    tool_name: str | None
    prompt_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens) if self.tool_name is None else 1 + len(TOOL_ARGUMENTS)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def reply_text(model: str, user_text: str) -> str:
    snippet = strip_directives(user_text)[:SNIPPET_CHARS].strip()
    return f"Emulated reply from {model} to: {snippet}".strip()


def split_tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words) if word or i == 0]


def build_reply(conv: Conversation, *, tokens: int | None) -> Reply:
    tool = conv.wants_tool()
    if tool is not None:
        return Reply(model=conv.model, tokens=(), finish="tool", tool_name=tool, prompt_tokens=conv.prompt_tokens())
    text = reply_text(conv.model, conv.last_user_text)
    if conv.json_mode:
        text = json.dumps({"reply": text})
    parts = split_tokens(text)
    if tokens is not None:
        parts += [" " + FILLER[i % len(FILLER)] for i in range(tokens - len(parts))]
        parts = parts[:tokens]
    finish: Finish = "stop"
    if conv.max_tokens is not None and 0 < conv.max_tokens < len(parts):
        parts = parts[: conv.max_tokens]
        finish = "length"
    return Reply(
        model=conv.model, tokens=tuple(parts), finish=finish, tool_name=None, prompt_tokens=conv.prompt_tokens()
    )


# Native widths of the embedding models the catalog lists (and the emulator's defaults);
# other models get EMBEDDING_DIM unless the request asks for a width.
EMBEDDING_WIDTHS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "gemini-embedding-2": 3072,
    "text-embedding-004": 768,
    "BAAI/bge-base-en-v1.5": 768,
    "sentence-transformers/all-MiniLM-L6-v2": 384,
}


def embedding_width(model: str) -> int:
    return EMBEDDING_WIDTHS.get(model, EMBEDDING_DIM)


def embedding(model: str, text: str, dim: int | None = None) -> list[float]:
    """A unit vector of hashed character trigrams and words of ``text`` (seeded by ``model``):
    deterministic, and texts that share words and spellings are close (cosine), so retrieval
    over emulated embeddings behaves like retrieval. ``dim`` defaults to the model's width."""
    dim = dim or embedding_width(model)
    vector = [0.0] * dim
    folded = " " + " ".join(text.lower().split()) + " "
    features = [folded[i : i + 3] for i in range(len(folded) - 2)] + folded.split()
    for feature in features:
        digest = hashlib.blake2b(f"{model}\0{feature}".encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dim
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    if not any(vector):  # empty text: still a unit vector, still deterministic
        digest = hashlib.sha256(f"{model}\0{text}".encode()).digest()
        vector = [struct.unpack_from(">I", digest, 4 * (i % 8))[0] / 2**32 * 2 - 1 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in vector))
    return [round(x / norm, 8) for x in vector]


def count_words(texts: list[str]) -> int:
    return max(1, sum(len(text.split()) for text in texts))


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of a list of parts
    (OpenAI's and Anthropic's shape alike)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""
