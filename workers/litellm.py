"""The workers' one HTTP client to the LiteLLM proxy, and how its failures are classified.

One pooled `httpx.AsyncClient` per worker process, the master key from settings, explicit
timeouts. MPC-API owns retries and fallbacks, so every call sends `num_retries: 0`: LiteLLM
retrying a dead provider costs seconds per request (`provider_outage`'s full run measures it).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from httpx_sse import EventSource, ServerSentEvent

from queues.settings import Settings

CONNECT_TIMEOUT_S = 2.0
# Time allowed for the first byte of an answer, and between stream chunks.
READ_TIMEOUT_S = 60.0

# Upstream answers that mean "this request is wrong": trying another model will not help.
CLIENT_ERROR_STATUSES = frozenset({400, 401, 403, 413, 422})


class UpstreamError(Exception):
    """A failed call to LiteLLM. `fallback` says whether another model may succeed."""

    def __init__(
        self, message: str, *, status: int, code: str, fallback: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fallback = fallback
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class LiteLLMClient:
    http: httpx.AsyncClient

    @classmethod
    def from_settings(cls, settings: Settings) -> LiteLLMClient:
        headers = {"Authorization": f"Bearer {settings.litellm_api_key.reveal()}"}
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        http = httpx.AsyncClient(base_url=settings.litellm_base_url, headers=headers, timeout=timeout, limits=limits)
        return cls(http)

    async def close(self) -> None:
        await self.http.aclose()

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed chat completion."""
        try:
            response = await self.http.post("/v1/chat/completions", content=msgspec.json.encode(body))
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        if response.status_code != 200:
            raise status_error(response.status_code, response.content, response.headers)
        try:
            answer: dict[str, Any] = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            raise UpstreamError(
                "LiteLLM answered invalid JSON.", status=502, code="bad_upstream_response", fallback=True
            ) from None
        return answer

    @asynccontextmanager
    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """A streamed chat completion: yields its server-sent events once the answer's status
        is 200 (httpx-sse: each event as soon as its blank line arrives, multi-line data
        joined, `SSEError` if the answer is not `text/event-stream`)."""
        request = self.http.build_request("POST", "/v1/chat/completions", content=msgspec.json.encode(body))
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        try:
            if response.status_code != 200:
                raise status_error(response.status_code, await response.aread(), response.headers)
            yield EventSource(response).aiter_sse()
        finally:
            await response.aclose()

    async def liveliness(self) -> bool:
        try:
            response = await self.http.get("/health/liveliness", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def transport_error(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(
            "The model provider did not answer in time.", status=504, code="upstream_timeout", fallback=True
        )
    return UpstreamError(
        f"Could not reach LiteLLM ({type(exc).__name__}).", status=502, code="upstream_unreachable", fallback=True
    )


def status_error(status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
    message = _error_message(body) or f"LiteLLM answered HTTP {status}."
    retry_after = _retry_after(headers)
    if status in CLIENT_ERROR_STATUSES:
        return UpstreamError(message, status=400 if status == 422 else status, code="upstream_rejected", fallback=False)
    if status == 429:
        return UpstreamError(message, status=429, code="rate_limited", fallback=True, retry_after=retry_after)
    if status in (408, 504):
        return UpstreamError(message, status=504, code="upstream_timeout", fallback=True)
    return UpstreamError(message, status=502, code="upstream_error", fallback=True)


# Anything shaped like a credential is cut out of upstream messages before a client sees them.
_SECRETS = re.compile(r"(sk-[A-Za-z0-9_*.-]{6,}|Bearer\s+\S+|(?:api[_-]?key|key)=[^&\s]+)", re.IGNORECASE)


def scrub(message: str) -> str:
    return _SECRETS.sub("[redacted]", message)


def _error_message(body: bytes) -> str | None:
    """LiteLLM's error message, without its exception-class prefix ("litellm.RateLimitError: …")."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return None
    head, sep, tail = message.partition(": ")
    text = tail if sep and head.startswith("litellm.") else message
    return scrub(text[:500])


def _retry_after(headers: httpx.Headers) -> float | None:
    # LiteLLM passes the provider's Retry-After on only as `llm_provider-retry-after`.
    for name in ("retry-after", "llm_provider-retry-after"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
