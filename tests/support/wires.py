"""Request builders and stream readers shared by the emulator tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

OPENAI_AUTH = {"Authorization": "Bearer sk-test-secret"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-secret", "anthropic-version": "2023-06-01"}
GEMINI_HEADERS = {"x-goog-api-key": "AIza-secret"}

# provider -> (chat path, model, headers)
OPENAI_COMPATIBLE: dict[str, tuple[str, str]] = {
    "openai": ("/openai/v1", "gpt-4o"),
    "groq": ("/groq/openai/v1", "llama-3.1-8b-instant"),
    "together": ("/together/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    "deepinfra": ("/deepinfra/v1/openai", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
    "cometapi": ("/cometapi/v1", "gpt-4o-mini"),
    "huggingface": ("/huggingface/v1", "meta-llama/Llama-3.1-8B-Instruct"),
}


def openai_chat(text: str, model: str = "gpt-4o", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def anthropic_chat(text: str, model: str = "claude-sonnet-4-5", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 1024, "messages": [{"role": "user", "content": text}], **extra}


def gemini_chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


@dataclass
class StreamResult:
    status: int
    headers: httpx.Headers
    raw: bytes = b""
    error: Exception | None = None
    events: list[Any] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return b"data: [DONE]" in self.raw


async def stream(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    read_limit_s: float | None = None,
) -> StreamResult:
    """POST and read an SSE answer to its end or to a transport error, keeping what came."""
    extra: dict[str, Any] = {} if read_limit_s is None else {"timeout": httpx.Timeout(5.0, read=read_limit_s)}
    async with client.stream("POST", path, json=body, headers=headers, **extra) as response:
        result = StreamResult(status=response.status_code, headers=response.headers)
        try:
            async for chunk in response.aiter_raw():
                result.raw += chunk
        except httpx.TransportError as exc:
            result.error = exc
    for block in result.raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                try:
                    result.events.append(json.loads(line[6:]))
                except ValueError:
                    result.invalid.append(line)
    return result


def openai_text(events: list[Any]) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))


def content_events(events: list[Any]) -> list[Any]:
    """OpenAI chunks that carry content text."""
    return [e for e in events if e.get("choices") and e["choices"][0]["delta"].get("content")]


@dataclass(frozen=True)
class Wire:
    """One provider wire format: where to post, what to send, how to read the answer."""

    name: str
    model: str
    path: str
    stream_path: str
    headers: dict[str, str]

    def body(self, text: str, *, stream: bool = False) -> dict[str, Any]:
        if self.name == "gemini":
            return gemini_chat(text)
        if self.name == "anthropic":
            return anthropic_chat(text, self.model, stream=stream)
        return openai_chat(text, self.model, stream=stream, stream_options={"include_usage": True})

    def post_path(self, *, stream: bool) -> str:
        return self.stream_path if stream else self.path

    def content_count(self, events: list[Any]) -> int:
        """How many content-carrying events a stream had."""
        if self.name == "anthropic":
            return sum(1 for e in events if e.get("type") == "content_block_delta")
        if self.name == "gemini":
            return sum(1 for e in events if "candidates" in e and e["candidates"][0]["content"]["parts"][0].get("text"))
        return len(content_events(events))

    def finished(self, result: StreamResult) -> bool:
        """Did the stream carry its provider's terminating frames?"""
        if self.name == "anthropic":
            return any(e.get("type") == "message_stop" for e in result.events)
        if self.name == "gemini":
            return any("usageMetadata" in e for e in result.events)
        return result.done

    def error_of(self, body: dict[str, Any]) -> tuple[str, str]:
        """(error kind, message) from the provider's error shape."""
        if self.name == "anthropic":
            assert body["type"] == "error"
            return body["error"]["type"], body["error"]["message"]
        if self.name == "gemini":
            return body["error"]["status"], body["error"]["message"]
        return body["error"]["type"], body["error"]["message"]


WIRES = {
    "openai": Wire("openai", "gpt-4o", "/openai/v1/chat/completions", "/openai/v1/chat/completions", OPENAI_AUTH),
    "groq": Wire(
        "groq",
        "llama-3.1-8b-instant",
        "/groq/openai/v1/chat/completions",
        "/groq/openai/v1/chat/completions",
        OPENAI_AUTH,
    ),
    "anthropic": Wire(
        "anthropic", "claude-sonnet-4-5", "/anthropic/v1/messages", "/anthropic/v1/messages", ANTHROPIC_HEADERS
    ),
    "gemini": Wire(
        "gemini",
        "gemini-2.5-pro",
        "/gemini/v1beta/models/gemini-2.5-pro:generateContent",
        "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        GEMINI_HEADERS,
    ),
}
