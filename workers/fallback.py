"""The walk down the brain's fallback chain, the same for every task a worker runs.

The gateway resolved the chain (it holds the brain and the health snapshot); a handler gives
`ChainWalker.walk` the job and one function that calls one model. The walker asks each
model's breaker (through the worker's `BreakerView`: the common case costs no Redis read),
calls the model, and on an `UpstreamError`:
- that may pass with another model (429, 5xx, timeout, connection error: `fallback`), it
  records the failure on the provider's breaker and moves to the next model;
- that says the request is wrong (4xx), it fails the job at once with that error: another
  model would be asked the same wrong thing.
A model the call declines with `SkipModel` (it cannot do what was asked, say an embedding
width) is passed over with no breaker record. When every breaker refused and nothing was
tried, the first model is called anyway: an answer from a struggling provider beats none.

Each call is timed into `provider_duration` under the handler's OTel operation name; each
model given up counts in `fallbacks`; breaker state changes count in `breaker_transitions`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis

from metrics.definitions import WorkerMetrics
from queues import breakers
from workers.context import JobContext
from workers.errors import JobFailed
from workers.litellm import UpstreamError

log = logging.getLogger("mpc.fallback")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """One model of the chain, as the gateway put it in the job's params."""

    id: str  # catalog id
    provider: str
    provider_id: str  # LiteLLM's model_name


class SkipModel(Exception):
    """Raised by a call: this model cannot serve the request as asked; try the next one.
    Not the provider's fault, so not a breaker failure. `param` names the input field."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class Attempt:
    """One call to one model: its clock, its breaker permit, and how it ended."""

    target: Target
    permit: breakers.Permit
    walker: ChainWalker
    started: float = field(default_factory=time.perf_counter)
    settled: bool = False

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    async def succeeded(self, usage: Any = None) -> None:
        """The model answered: time it, count its tokens, tell its breaker."""
        if self.settled:
            return
        self.settled = True
        self.walker.observe(self.target, self.elapsed, usage=usage)
        await self.walker.record_success(self.target, self.permit)

    async def failed(self, exc: UpstreamError, *, error_type: str | None = None) -> None:
        """The model failed (before or after answering): time it, tell its breaker."""
        if self.settled:
            return
        self.settled = True
        self.walker.observe(self.target, self.elapsed, error_type=error_type or exc.code)
        await self.walker.record_failure(self.target, exc)

    def first_chunk(self) -> None:
        self.walker.metrics.time_to_first_chunk.labels(
            self.walker.operation, self.target.provider, self.target.id
        ).observe(self.elapsed)


Call = Callable[[Attempt], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class ChainWalker:
    redis: Redis
    metrics: WorkerMetrics
    breaker_view: breakers.BreakerView
    operation: str  # OTel gen_ai.operation.name: chat, embeddings, generate_content, …

    async def walk(self, job: JobContext, call: Call[T]) -> T:
        chain = chain_of(job)
        last: UpstreamError | None = None
        skipped: SkipModel | None = None
        for target in chain:
            permit = await self._permit(target)
            if not permit.allowed:
                continue
            try:
                return await self._attempt(target, permit, call)
            except SkipModel as exc:
                skipped = exc
                self.metrics.fallbacks.labels(target.provider, "unsupported").inc()
                await job.log(f"{target.id} cannot serve this request ({exc.message}); trying the next model")
            except UpstreamError as exc:
                if not exc.fallback:
                    raise job_failed(exc) from None
                last = exc
                self.metrics.fallbacks.labels(target.provider, exc.code).inc()
                await job.log(f"{target.id} failed before answering ({exc.code}); trying the next model")
        if last is not None:
            raise job_failed(last, exhausted=True)
        if skipped is not None:
            raise _unservable(skipped)
        # Every breaker refused (nothing was tried).
        try:
            return await self._attempt(chain[0], breakers.Permit(True), call)
        except SkipModel as exc:
            raise _unservable(exc) from None
        except UpstreamError as exc:
            raise job_failed(exc, exhausted=exc.fallback) from None

    async def _attempt(self, target: Target, permit: breakers.Permit, call: Call[T]) -> T:
        attempt = Attempt(target, permit, self)
        try:
            result = await call(attempt)
        except UpstreamError as exc:
            await attempt.failed(exc)
            raise
        await attempt.succeeded()
        return result

    async def _permit(self, target: Target) -> breakers.Permit:
        permit = await self.breaker_view.allow(target.provider)
        if permit.transition is not None:
            self.transition(permit.transition)
        if not permit.allowed:
            self.metrics.fallbacks.labels(target.provider, "breaker_open").inc()
        return permit

    async def record_success(self, target: Target, permit: breakers.Permit) -> None:
        transition = await breakers.record_success(self.redis, target.provider, quiet=permit.quiet)
        if not permit.quiet:
            self.breaker_view.forget(target.provider)
        if transition is not None:
            self.transition(transition)

    async def record_failure(self, target: Target, exc: UpstreamError) -> None:
        if not exc.fallback:
            return  # the request was wrong, not the provider
        transition = await breakers.record_failure(self.redis, target.provider)
        self.breaker_view.forget(target.provider)
        if transition is not None:
            self.transition(transition)

    def observe(self, target: Target, elapsed: float, *, error_type: str = "", usage: Any = None) -> None:
        self.metrics.provider_duration.labels(self.operation, target.provider, target.id, error_type).observe(elapsed)
        if isinstance(usage, dict):
            for token_type, name in (("input", "prompt_tokens"), ("output", "completion_tokens")):
                count = usage.get(name)
                if isinstance(count, int):
                    self.metrics.tokens.labels(token_type, target.provider, target.id).observe(count)

    def transition(self, transition: breakers.Transition) -> None:
        self.metrics.breaker_transitions.labels(transition.provider, transition.before, transition.after).inc()
        log.warning(
            "breaker %s: %s -> %s (%s)",
            transition.provider,
            transition.before,
            transition.after,
            transition.reason,
            extra={"provider": transition.provider, "breaker_from": transition.before, "breaker_to": transition.after},
        )


def chain_of(job: JobContext) -> list[Target]:
    chain = [Target(**t) for t in job.params.get("chain", [])]
    if not chain:
        raise JobFailed("No model to call.", type="invalid_request_error", code="no_candidate")
    return chain


def _unservable(skipped: SkipModel) -> JobFailed:
    return JobFailed(
        f"No model in the chain can serve this request: {skipped.message}",
        type="invalid_request_error",
        code="unsupported_by_models",
        param=skipped.param,
        status=400,
    )


def job_failed(exc: UpstreamError, *, exhausted: bool = False) -> JobFailed:
    message = f"Every model in the fallback chain failed; last error: {exc.message}" if exhausted else exc.message
    error_type = "invalid_request_error" if exc.status in (400, 401, 403, 404, 413) else "server_error"
    if exc.status == 429:
        error_type = "rate_limit_error"
    return JobFailed(
        message, type=error_type, code=exc.code, retryable=exc.fallback, status=exc.status, retry_after=exc.retry_after
    )
