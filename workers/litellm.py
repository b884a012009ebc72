"""The workers' one HTTP client to the LiteLLM proxy, and how its failures are classified.

One pooled `httpx.AsyncClient` per worker process, the master key from settings, explicit
timeouts. MPC-API owns retries and fallbacks, so every call sends `num_retries: 0`: LiteLLM
retrying a dead provider costs seconds per request (`provider_outage`'s full run measures it).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
from httpx_sse import EventSource, ServerSentEvent

from queues.settings import Settings
from workers._streams import closing

CONNECT_TIMEOUT_S = 2.0
# Time allowed for the first byte of an answer, and between stream chunks.
READ_TIMEOUT_S = 60.0

T = TypeVar("T")

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

    async def embeddings(self, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        return await self._json_call("/v1/embeddings", body, timeout_s)

    async def image_generation(self, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        return await self._json_call("/v1/images/generations", body, timeout_s)

    @asynccontextmanager
    async def speech(self, body: dict[str, Any], *, timeout_s: float) -> AsyncIterator[SpeechAnswer]:
        """Synthesised speech: yields once the answer's status is 200 (an error status raises
        `UpstreamError` before any audio is read); the audio then streams as it arrives, each
        chunk within `timeout_s` of the last."""
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        request = self.http.build_request(
            "POST", "/v1/audio/speech", content=msgspec.json.encode(body), timeout=timeout
        )
        response = await _within(timeout_s, self.http.send(request, stream=True))
        try:
            if response.status_code != 200:
                raise status_error(response.status_code, await response.aread(), response.headers)
            content_type = response.headers.get("content-type", "application/octet-stream")
            yield SpeechAnswer(content_type, _audio_chunks(response))
        finally:
            await response.aclose()

    async def transcription(
        self,
        fields: dict[str, str],
        audio: AsyncIterable[bytes],
        *,
        size: int,
        filename: str,
        content_type: str,
        timeout_s: float,
    ) -> dict[str, Any] | str:
        """A transcription: `fields` and the audio as one multipart body, streamed (the audio is
        never whole in memory here; `size` gives the body its length). The answer is the
        decoded JSON, or the text when LiteLLM answers text (text, srt, vtt formats)."""
        body = _Multipart(fields, filename, content_type)
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length(size))}
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        call = self.http.post("/v1/audio/transcriptions", content=body.stream(audio), headers=headers, timeout=timeout)
        response = await _within(timeout_s, call)
        if response.status_code != 200:
            raise status_error(response.status_code, response.content, response.headers)
        if "json" not in response.headers.get("content-type", "application/json"):
            return response.text
        return _decoded(response.content)

    async def video_create(
        self, fields: dict[str, str], reference: VideoReference | None, *, timeout_s: float
    ) -> dict[str, Any]:
        """`POST /v1/videos` as the openai SDK sends it: multipart form data, the image (if
        any) as the `input_reference` file; an `input_reference` string in `fields` goes as
        JSON. LiteLLM makes one upstream attempt (its `num_retries: 0` setting): a create is
        billed, so a retry is MPC-API's decision, never LiteLLM's."""
        if "input_reference" in fields:
            # A reference given as a string (a URL, a data URI) must come as JSON: the proxy
            # declares a form's `input_reference` as a file and answers a string field 422.
            body, content_type = msgspec.json.encode(fields), "application/json"
        else:
            body, content_type = _form(fields, reference)
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        call = self.http.post("/v1/videos", content=body, headers={"Content-Type": content_type}, timeout=timeout)
        response = await _within(timeout_s, call)
        if response.status_code != 200:
            raise _video_error(response)
        return _decoded(response.content)

    async def video_status(self, video_id: str, *, timeout_s: float) -> dict[str, Any]:
        """`GET /v1/videos/{id}` with the create's id (status answers re-encode the id without
        the deployment: adopting theirs would send the next poll to the wrong place)."""
        response = await _within(timeout_s, self.http.get(f"/v1/videos/{_path(video_id)}", timeout=timeout_s))
        if response.status_code != 200:
            raise _video_error(response)
        return _decoded(response.content)

    async def video_delete(self, video_id: str, *, timeout_s: float) -> None:
        response = await _within(timeout_s, self.http.delete(f"/v1/videos/{_path(video_id)}", timeout=timeout_s))
        if response.status_code not in (200, 204):
            raise _video_error(response)

    @asynccontextmanager
    async def video_content(self, video_id: str, *, timeout_s: float) -> AsyncIterator[AsyncIterator[bytes]]:
        """The finished video's bytes as they arrive (`GET /v1/videos/{id}/content`)."""
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        request = self.http.build_request("GET", f"/v1/videos/{_path(video_id)}/content", timeout=timeout)
        response = await _within(timeout_s, self.http.send(request, stream=True))
        try:
            if response.status_code != 200:
                await response.aread()
                raise _video_error(response)
            yield _audio_chunks(response)
        finally:
            await response.aclose()

    async def heygen(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, timeout_s: float
    ) -> dict[str, Any]:
        """A call through LiteLLM's `/heygen` pass-through (LiteLLM has no HeyGen provider):
        the path and body are HeyGen's own, LiteLLM adds HeyGen's key."""
        content = msgspec.json.encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        call = self.http.request(method, f"/heygen{path}", content=content, headers=headers, timeout=timeout_s)
        response = await _within(timeout_s, call)
        if response.status_code != 200:
            raise _video_error(response)
        return _decoded(response.content)

    async def _json_call(self, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
        response = await _within(timeout_s, self.http.post(path, content=msgspec.json.encode(body), timeout=timeout))
        if response.status_code != 200:
            raise status_error(response.status_code, response.content, response.headers)
        return _decoded(response.content)

    async def liveliness(self) -> bool:
        try:
            response = await self.http.get("/health/liveliness", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@dataclass(frozen=True, slots=True)
class VideoReference:
    """An image a video starts from, for the create's `input_reference`: a file part (OpenAI),
    or, where LiteLLM's adapter passes the field on as is, a string (`workers._video_wires`)."""

    filename: str
    content_type: str
    content: bytes
    public_url: str  # where a provider can fetch it: the client's URL, or a signed store link


def _form(fields: dict[str, str], reference: VideoReference | None) -> tuple[bytes, str]:
    """A multipart/form-data body (httpx sends url-encoding when there is no file; the SDK,
    and so LiteLLM's tested path, always sends multipart)."""
    boundary = "mpc-" + secrets.token_hex(16)
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    if reference is not None:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="input_reference"; '
            f'filename="{_quoted(reference.filename)}"\r\nContent-Type: {reference.content_type}\r\n\r\n'
        ).encode()
        out += reference.content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _path(video_id: str) -> str:
    return quote(video_id, safe="")


def _video_error(response: httpx.Response) -> UpstreamError:
    """A 404 is kept as such: for a video the provider no longer knows, it is the answer
    (`video_lost`), not a reason to try elsewhere."""
    if response.status_code == 404:
        message = _error_message(response.content) or "The provider does not know this video."
        return UpstreamError(message, status=404, code="video_not_found", fallback=False)
    return status_error(response.status_code, response.content, response.headers)


@dataclass(frozen=True, slots=True)
class SpeechAnswer:
    content_type: str  # as the provider declared it (LiteLLM passes it on)
    chunks: AsyncIterator[bytes]


async def _audio_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        # As the network gives them (up to 64 KiB a read): a fixed size would hold the first
        # bytes back until that many came; the speech handler joins small reads into its deltas.
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None


async def _within(timeout_s: float, call: Awaitable[T]) -> T:
    """`call` (an HTTP exchange) with an overall deadline on top of httpx's per-read one: a
    provider trickling bytes must not hold a job past its timeout."""
    try:
        async with asyncio.timeout(timeout_s):
            return await call
    except TimeoutError:
        raise UpstreamError(
            "The model provider did not answer in time.", status=504, code="upstream_timeout", fallback=True
        ) from None
    except httpx.HTTPError as exc:
        raise transport_error(exc) from None


def _decoded(content: bytes) -> dict[str, Any]:
    try:
        answer = msgspec.json.decode(content)
    except msgspec.DecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise UpstreamError("LiteLLM answered invalid JSON.", status=502, code="bad_upstream_response", fallback=True)
    return answer


class _Multipart:
    """A multipart/form-data body of text fields and one file, produced as the file streams.

    httpx's own `files=` reads file objects synchronously; this takes any async source (the
    artifact store's stream) and knows its length up front, so no chunked upload is needed."""

    def __init__(self, fields: dict[str, str], filename: str, content_type: str) -> None:
        self.boundary = "mpc-" + secrets.token_hex(16)
        head = bytearray()
        for name, value in fields.items():
            head += f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode()
            head += value.encode() + b"\r\n"
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{_quoted(filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self.head = bytes(head)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self, file_size: int) -> int:
        return len(self.head) + file_size + len(self.tail)

    async def stream(self, audio: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        yield self.head
        async with closing(audio) as chunks:
            async for chunk in chunks:
                yield chunk
        yield self.tail


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


def bad_response(message: str) -> UpstreamError:
    """The provider answered 200 with something unusable: another model may do better."""
    return UpstreamError(message, status=502, code="bad_upstream_response", fallback=True)


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
