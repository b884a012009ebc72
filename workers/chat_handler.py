"""The chat job: call LiteLLM down the brain's fallback chain, streaming into Redis.

The gateway resolved the model chain (it holds the brain and the health snapshot); this
handler walks it. A provider error before the first token (429, 5xx, timeout, connection
error) moves to the next model; a client error (400, 401, …) does not. Once a token has
been sent the answer is committed to that model: a later failure fails the job, and the
gateway ends the client's stream with an error chunk and no `[DONE]`.

Stream chunks become `output` events as they arrive, with `model` rewritten to the
canonical id of the model answering. Usage is moved to a chunk of its own
(`{"choices": [], "usage": …}`) and only sent when the client asked for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from httpx_sse import ServerSentEvent, SSEError
from redis.asyncio import Redis

from metrics.definitions import WorkerMetrics
from queues import breakers, store
from workers.context import JobContext
from workers.errors import JobFailed
from workers.litellm import LiteLLMClient, UpstreamError

log = logging.getLogger("mpc.chat")
OPERATION = "chat"  # OTel gen_ai.operation.name


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    provider: str
    provider_id: str


class StreamBroken(Exception):
    """The stream failed after its first chunk was sent on."""


@dataclass(frozen=True, slots=True)
class ChatHandler:
    litellm: LiteLLMClient
    redis: Redis
    metrics: WorkerMetrics
    breaker_view: breakers.BreakerView

    async def __call__(self, job: JobContext) -> Any:
        chain = [Target(**t) for t in job.params.get("chain", [])]
        if not chain:
            raise JobFailed("No model to call.", type="invalid_request_error", code="no_candidate")
        stream = bool(job.params.get("stream", False))
        last: UpstreamError | None = None
        for target in chain:
            # Breakers are asked one target at a time, through the worker's view: the common
            # case (primary healthy) costs no Redis read, and never one per model in the chain.
            permit = await self._permit(target)
            if not permit.allowed:
                continue
            try:
                return await self._call(job, target, stream, permit)
            except UpstreamError as exc:
                if not exc.fallback:
                    raise _job_failed(exc) from None
                last = exc
                self.metrics.fallbacks.labels(target.provider, exc.code).inc()
                await job.log(f"{target.id} failed before answering ({exc.code}); trying the next model")
        if last is None:
            # Every breaker refused (nothing was tried): an answer from a struggling
            # provider beats no answer.
            return await self._last_resort(job, chain[0], stream)
        raise _job_failed(last, exhausted=True)

    async def _permit(self, target: Target) -> breakers.Permit:
        permit = await self.breaker_view.allow(target.provider)
        if permit.transition is not None:
            self._transition(permit.transition)
        if not permit.allowed:
            self.metrics.fallbacks.labels(target.provider, "breaker_open").inc()
        return permit

    async def _last_resort(self, job: JobContext, target: Target, stream: bool) -> Any:
        try:
            return await self._call(job, target, stream, breakers.Permit(True))
        except UpstreamError as exc:
            raise _job_failed(exc, exhausted=exc.fallback) from None

    async def _call(self, job: JobContext, target: Target, stream: bool, permit: breakers.Permit) -> Any:
        """One model, timed; a failure before the first token is recorded and re-raised."""
        started = time.perf_counter()
        try:
            if stream:
                return await self._stream(job, target, started, permit)
            return await self._complete(job, target, started, permit)
        except UpstreamError as exc:
            self._observe(target, started, error_type=exc.code)
            await self._failed(target, exc)
            raise

    async def _complete(
        self, job: JobContext, target: Target, started: float, permit: breakers.Permit
    ) -> dict[str, Any]:
        answer = await self.litellm.chat(_body(job.input, target, stream=False))
        self._observe(target, started, usage=answer.get("usage"))
        await self._succeeded(target, permit)
        answer["model"] = target.id
        answer["object"] = "chat.completion"
        return answer

    async def _stream(self, job: JobContext, target: Target, started: float, permit: breakers.Permit) -> dict[str, Any]:
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
                        self.metrics.time_to_first_chunk.labels(OPERATION, target.provider, target.id).observe(
                            time.perf_counter() - started
                        )
                    sent += len(batch)
        except UpstreamError as exc:
            if sent == 0:
                raise  # nothing sent yet: the caller records it and falls back
            self._observe(target, started, error_type=exc.code)
            await self._failed(target, exc)
            raise _mid_stream(exc.message) from None
        except StreamBroken as exc:
            broken = UpstreamError(str(exc), status=502, code="upstream_error", fallback=True)
            if sent == 0:
                raise broken from None
            self._observe(target, started, error_type="stream_broken")
            await self._failed(target, broken)
            raise _mid_stream(str(exc)) from None
        if finish_reason is None:
            # The stream ended without a final chunk: a cut answer must never look complete.
            cut = UpstreamError(
                "The provider closed the stream early.", status=502, code="upstream_error", fallback=True
            )
            if sent == 0:
                raise cut
            self._observe(target, started, error_type="stream_broken")
            await self._failed(target, cut)
            raise _mid_stream("the provider closed the stream before the answer was complete")
        self._observe(target, started, usage=usage)
        await self._succeeded(target, permit)
        if include_usage and usage is not None:
            usage_chunk = {"model": target.id, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            await store.append_outputs(self.redis, job.job_id, [usage_chunk])
        return {"model": target.id, "finish_reason": finish_reason, "usage": usage, "chunks": sent}

    async def _succeeded(self, target: Target, permit: breakers.Permit) -> None:
        transition = await breakers.record_success(self.redis, target.provider, quiet=permit.quiet)
        if not permit.quiet:
            self.breaker_view.forget(target.provider)
        if transition is not None:
            self._transition(transition)

    async def _failed(self, target: Target, exc: UpstreamError) -> None:
        if not exc.fallback:
            return  # the request was wrong, not the provider
        transition = await breakers.record_failure(self.redis, target.provider)
        self.breaker_view.forget(target.provider)
        if transition is not None:
            self._transition(transition)

    def _observe(self, target: Target, started: float, *, error_type: str = "", usage: Any = None) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.provider_duration.labels(OPERATION, target.provider, target.id, error_type).observe(elapsed)
        if isinstance(usage, dict):
            for token_type, field in (("input", "prompt_tokens"), ("output", "completion_tokens")):
                count = usage.get(field)
                if isinstance(count, int):
                    self.metrics.tokens.labels(token_type, target.provider, target.id).observe(count)

    def _transition(self, transition: breakers.Transition) -> None:
        self.metrics.breaker_transitions.labels(transition.provider, transition.before, transition.after).inc()
        log.warning(
            "breaker %s: %s -> %s (%s)",
            transition.provider,
            transition.before,
            transition.after,
            transition.reason,
            extra={"provider": transition.provider, "breaker_from": transition.before, "breaker_to": transition.after},
        )


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


def _job_failed(exc: UpstreamError, *, exhausted: bool = False) -> JobFailed:
    message = f"Every model in the fallback chain failed; last error: {exc.message}" if exhausted else exc.message
    error_type = "invalid_request_error" if exc.status in (400, 401, 403, 404, 413) else "server_error"
    if exc.status == 429:
        error_type = "rate_limit_error"
    return JobFailed(
        message, type=error_type, code=exc.code, retryable=exc.fallback, status=exc.status, retry_after=exc.retry_after
    )


def _mid_stream(message: str) -> JobFailed:
    message = f"The answer was interrupted: {message}"
    return JobFailed(message, type="server_error", code="stream_interrupted", retryable=True, status=502)
