"""The chat job: call LiteLLM down the brain's fallback chain, streaming into Redis.

The gateway resolved the model chain (it holds the brain and the health snapshot); this
handler walks it with `workers.fallback`. A provider error before the first token (429, 5xx, timeout, connection
error) moves to the next model; a client error (400, 401, …) does not. Once a token has
been sent the answer is committed to that model: a later failure fails the job, and the
gateway ends the client's stream with an error chunk and no `[DONE]`.

Stream chunks become `output` events as they arrive, with `model` rewritten to the
canonical id of the model answering. Usage is moved to a chunk of its own
(`{"choices": [], "usage": …}`) and only sent when the client asked for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from httpx_sse import ServerSentEvent, SSEError
from redis.asyncio import Redis

from queues import store
from workers.context import JobContext
from workers.errors import JobFailed
from workers.fallback import Attempt, ChainWalker, Target
from workers.litellm import LiteLLMClient, UpstreamError

OPERATION = "chat"  # OTel gen_ai.operation.name


class StreamBroken(Exception):
    """The stream failed after its first chunk was sent on."""


@dataclass(frozen=True, slots=True)
class ChatHandler:
    litellm: LiteLLMClient
    redis: Redis
    walker: ChainWalker

    async def __call__(self, job: JobContext) -> Any:
        stream = bool(job.params.get("stream", False))

        async def call(attempt: Attempt) -> dict[str, Any]:
            if stream:
                return await self._stream(job, attempt)
            return await self._complete(job, attempt)

        return await self.walker.walk(job, call)

    async def _complete(self, job: JobContext, attempt: Attempt) -> dict[str, Any]:
        target = attempt.target
        answer = await self.litellm.chat(_body(job.input, target, stream=False))
        await attempt.succeeded(usage=answer.get("usage"))
        answer["model"] = target.id
        answer["object"] = "chat.completion"
        _reasoning_as_content_field(answer)
        return answer

    async def _stream(self, job: JobContext, attempt: Attempt) -> dict[str, Any]:
        """A failure before the first chunk is sent on raises `UpstreamError` (the walker
        falls back); after it, the answer is committed to this model and the job fails."""
        target = attempt.target
        include_usage = bool(job.params.get("include_usage", False))
        sent = 0
        usage: Any = None
        finish_reason: str | None = None
        head: dict[str, Any] | None = None
        try:
            async with self.litellm.chat_stream(_body(job.input, target, stream=True)) as events:
                async for chunk in openai_chunks(events):
                    if "error" in chunk:
                        raise StreamBroken(_chunk_error(chunk))
                    chunk["model"] = target.id
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    chunk.pop("usage", None)
                    choices = chunk.get("choices") or []
                    if not choices:
                        continue  # a usage-only chunk: sent once, at the end
                    finish_reason = choices[0].get("finish_reason") or finish_reason
                    if sent == 0 and head is None and _is_head(choices[0]):
                        # A role-only head goes out with the first token, in one write: the
                        # client gets both at once, and a stream that ends after its head
                        # can still fall back (nothing was sent).
                        head = chunk
                        continue
                    batch = [chunk] if head is None else [head, chunk]
                    head = None
                    await store.append_outputs(self.redis, job.job_id, batch)
                    if sent == 0:
                        attempt.first_chunk()
                    sent += len(batch)
        except UpstreamError as exc:
            if sent == 0:
                raise  # nothing sent yet: the walker records it and falls back
            await attempt.failed(exc)
            raise _mid_stream(exc.message) from None
        except StreamBroken as exc:
            broken = UpstreamError(str(exc), status=502, code="upstream_error", fallback=True)
            if sent == 0:
                raise broken from None
            await attempt.failed(broken, error_type="stream_broken")
            raise _mid_stream(str(exc)) from None
        if finish_reason is None:
            # The stream ended without a final chunk: a cut answer must never look complete.
            cut = UpstreamError(
                "The provider closed the stream early.", status=502, code="upstream_error", fallback=True
            )
            if sent == 0:
                raise cut
            await attempt.failed(cut, error_type="stream_broken")
            raise _mid_stream("the provider closed the stream before the answer was complete")
        await attempt.succeeded(usage=usage)
        if include_usage and usage is not None:
            usage_chunk = {"model": target.id, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            await store.append_outputs(self.redis, job.job_id, [usage_chunk])
        return {"model": target.id, "finish_reason": finish_reason, "usage": usage, "chunks": sent}


def _body(request: Any, target: Target, *, stream: bool) -> dict[str, Any]:
    body = dict(request)
    body["model"] = target.provider_id
    body["num_retries"] = 0  # MPC-API owns retries and fallbacks (see workers.litellm)
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    else:
        body.pop("stream_options", None)
    return body


async def openai_chunks(events: AsyncIterator[ServerSentEvent]) -> AsyncIterator[dict[str, Any]]:
    """Decoded chunks of an OpenAI SSE stream (each event's data), up to `[DONE]`."""
    try:
        async for event in events:
            if not event.data:
                continue  # the spec dispatches no event without data
            if event.data == "[DONE]":
                return
            try:
                chunk = msgspec.json.decode(event.data)
            except msgspec.DecodeError:
                raise StreamBroken("The provider sent a malformed stream chunk.") from None
            if isinstance(chunk, dict):
                yield chunk
    except SSEError:
        raise StreamBroken("The provider's stream is not server-sent events.") from None


def _reasoning_as_content_field(answer: dict[str, Any]) -> None:
    """Groq's reasoning text reaches a whole answer as `message.reasoning` (LiteLLM renames it
    `reasoning_content` only in streams): give clients the one name every other provider
    path uses, keeping the original."""
    for choice in answer.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and message.get("reasoning") and not message.get("reasoning_content"):
            message["reasoning_content"] = message["reasoning"]


def _is_head(choice: dict[str, Any]) -> bool:
    """A chunk that only opens the answer (role, empty content), as most providers send first."""
    delta = choice.get("delta") or {}
    return (
        not delta.get("content")
        and not delta.get("tool_calls")
        and not delta.get("function_call")
        and (choice.get("finish_reason") is None)
    )


def _chunk_error(chunk: dict[str, Any]) -> str:
    error = chunk.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or "The provider reported an error mid-stream.")[:500]


def _mid_stream(message: str) -> JobFailed:
    message = f"The answer was interrupted: {message}"
    return JobFailed(message, type="server_error", code="stream_interrupted", retryable=True, status=502)
