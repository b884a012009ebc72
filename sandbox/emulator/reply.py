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
import re
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.emulator.behaviour import strip_directives
from sandbox.emulator.schema_instance import instance

SNIPPET_CHARS = 40
EMBEDDING_DIM = 8
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
TOOL_TRIGGER = "call tool"
# Words of tool names that say nothing about what the tool is for: "get_weather" is about
# "weather", which is what a user's message would mention.
_GENERIC_TOOL_WORDS = frozenset(
    {"get", "set", "fetch", "call", "run", "make", "list", "create", "find", "lookup", "search", "query", "do", "tool"}
)

Finish = Literal["stop", "length", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A function the request offers: its name and its parameters' JSON schema."""

    name: str
    parameters: dict[str, Any]

    def keywords(self) -> tuple[str, ...]:
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", self.name)
        words = re.split(r"[^A-Za-z0-9]+", spaced.lower())
        return tuple(w for w in words if len(w) >= 3 and w not in _GENERIC_TOOL_WORDS)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """What a wire module extracts from a request body, provider-neutral."""

    model: str
    last_user_text: str = ""
    #: the conversation ends with a user turn of plain text (not a tool result)
    ends_with_user_text: bool = True
    all_texts: tuple[str, ...] = ()
    turns: int = 1
    tools: tuple[ToolSpec, ...] = ()
    #: a named tool the request forces (OpenAI's named tool_choice, Anthropic's "tool",
    #: Gemini's ANY with one allowed name)
    forced_tool: str | None = None
    #: some tool must be called (tool_choice "required", Anthropic "any", Gemini ANY)
    tool_required: bool = False
    #: several tools may be called in one turn (parallel_tool_calls, disable_parallel_tool_use)
    parallel_tools: bool = True
    #: the tool results of the last turn, as text (tool messages, tool_result blocks,
    #: functionResponse parts)
    tool_results: tuple[str, ...] = ()
    max_tokens: int | None = None
    json_mode: bool = False
    #: the JSON schema the answer must conform to (json_schema, output_format, responseSchema)
    response_schema: dict[str, Any] | None = None
    #: images among the request's parts
    images: int = 0
    #: the request asks for the reasoning text (and the provider gives it)
    reasoning: bool = False

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tools)

    def prompt_tokens(self) -> int:
        words = sum(len(text.split()) for text in self.all_texts)
        return max(1, words + 3 * self.turns + 85 * self.images)

    def wanted_tools(self) -> tuple[ToolSpec, ...]:
        """The tools an emulated model calls: the forced one; else every offered tool the
        user's message is about (a word of its name appears in it) or, for "call tool", the
        first; with a required choice and none relevant, the first. One at most when
        parallel calls are off."""
        if not self.tools or not self.ends_with_user_text:
            return ()
        by_name = {t.name: t for t in self.tools}
        if self.forced_tool is not None:
            return (by_name.get(self.forced_tool) or ToolSpec(self.forced_tool, {}),)
        text = self.last_user_text.lower()
        words = set(re.findall(r"[a-z0-9]+", text))
        wanted = tuple(t for t in self.tools if any(k in words for k in t.keywords()))
        if not wanted and (self.tool_required or TOOL_TRIGGER in text):
            wanted = self.tools[:1]
        return wanted if self.parallel_tools else wanted[:1]


@dataclass(frozen=True, kw_only=True)
class Reply:
    model: str
    tokens: tuple[str, ...]
    finish: Finish
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int
    reasoning: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def tool_name(self) -> str | None:
        return self.tool_calls[0].name if self.tool_calls else None

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning.split()) if self.reasoning else 0

    @property
    def completion_tokens(self) -> int:
        if self.tool_calls:
            visible = sum(1 + len(call.arguments_json) // 4 for call in self.tool_calls)
        else:
            visible = len(self.tokens)
        return visible + self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def reply_text(model: str, user_text: str) -> str:
    snippet = strip_directives(user_text)[:SNIPPET_CHARS].strip()
    return f"Emulated reply from {model} to: {snippet}".strip()


def reasoning_text(conv: Conversation) -> str:
    snippet = strip_directives(conv.last_user_text)[:SNIPPET_CHARS].strip()
    return f"Emulated reasoning of {conv.model}: the user asks about {snippet}".strip()


def answer_text(conv: Conversation) -> str:
    """The text answer: a reply to the user that also names what the turn brought (the tool
    results it was given, the images it saw)."""
    text = reply_text(conv.model, conv.last_user_text)
    if conv.tool_results:
        results = "; ".join(r[:SNIPPET_CHARS] for r in conv.tool_results)
        text += f" (using tool results: {results})"
    if conv.images:
        text += f" (seen {conv.images} image{'s' if conv.images > 1 else ''})"
    return text


def split_tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words) if word or i == 0]


def build_reply(conv: Conversation, *, tokens: int | None) -> Reply:
    reasoning = reasoning_text(conv) if conv.reasoning else None
    calls = tuple(ToolCall(t.name, _arguments(t, conv)) for t in conv.wanted_tools())
    if calls:
        return Reply(
            model=conv.model,
            tokens=(),
            finish="tool",
            tool_calls=calls,
            prompt_tokens=conv.prompt_tokens(),
            reasoning=reasoning,
        )
    text = answer_text(conv)
    if conv.response_schema is not None:
        text = json.dumps(instance(conv.response_schema, conv.last_user_text))
    elif conv.json_mode:
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
        model=conv.model,
        tokens=tuple(parts),
        finish=finish,
        tool_calls=(),
        prompt_tokens=conv.prompt_tokens(),
        reasoning=reasoning,
    )


def _arguments(tool: ToolSpec, conv: Conversation) -> dict[str, Any]:
    value = instance(tool.parameters or {"type": "object"}, conv.last_user_text)
    return value if isinstance(value, dict) else {}


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
