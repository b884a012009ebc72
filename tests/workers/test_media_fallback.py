"""The chain walk itself (workers.fallback), on real Redis breakers: what each outcome of a
call does to the walk. The end-to-end tests cover it through LiteLLM; these pin the rules."""

from __future__ import annotations

from typing import Any

import pytest

from metrics.definitions import WorkerMetrics
from queues.breakers import BreakerView
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from workers.context import JobContext
from workers.errors import JobFailed
from workers.fallback import Attempt, ChainWalker, SkipModel
from workers.litellm import UpstreamError

CHAIN = [
    {"id": "openai/a", "provider": "openai", "provider_id": "openai/a"},
    {"id": "gemini/b", "provider": "gemini", "provider_id": "gemini/b"},
]


def _walker(redis_url: str) -> tuple[ChainWalker, JobContext, WorkerMetrics]:
    redis = connect(redis_url)
    metrics = WorkerMetrics()
    job = JobContext(
        job_id="job_walk0123456789abcdef",
        task="embed_text",
        queue="interactive",
        attempt=1,
        input={},
        params={"chain": CHAIN},
        redis=redis,
        retention=DEFAULT_RETENTION,
    )
    return ChainWalker(redis, metrics, BreakerView(redis, cool_off_s=2), "embeddings"), job, metrics


def _fallbacks(metrics: WorkerMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "mpc_fallbacks_total", {"gen_ai_provider_name": "openai", "reason": reason}
    )
    return value or 0.0


async def test_a_model_that_cannot_serve_the_request_is_skipped_without_a_breaker_record(clean_redis: str) -> None:
    walker, job, metrics = _walker(clean_redis)
    tried: list[str] = []

    async def call(attempt: Attempt) -> Any:
        tried.append(attempt.target.id)
        if attempt.target.provider == "openai":
            raise SkipModel("too narrow", param="input.dimensions")
        return attempt.target.id

    assert await walker.walk(job, call) == "gemini/b"
    assert tried == ["openai/a", "gemini/b"]
    assert _fallbacks(metrics, "unsupported") == 1


async def test_when_no_model_can_serve_it_the_job_fails_with_a_400_naming_the_field(clean_redis: str) -> None:
    walker, job, _ = _walker(clean_redis)

    async def call(attempt: Attempt) -> Any:
        raise SkipModel("its embeddings have 8 dimensions, fewer than the 64 asked", param="input.dimensions")

    with pytest.raises(JobFailed) as failed:
        await walker.walk(job, call)
    error = failed.value.error
    assert (error.status, error.param, error.type) == (400, "input.dimensions", "invalid_request_error")
    assert "64" in error.message


async def test_a_client_error_stops_the_walk_and_a_server_error_moves_on(clean_redis: str) -> None:
    walker, job, metrics = _walker(clean_redis)

    async def server_error(attempt: Attempt) -> Any:
        if attempt.target.provider == "openai":
            raise UpstreamError("down", status=502, code="upstream_error", fallback=True)
        return attempt.target.id

    assert await walker.walk(job, server_error) == "gemini/b"
    assert _fallbacks(metrics, "upstream_error") == 1

    async def client_error(attempt: Attempt) -> Any:
        raise UpstreamError("bad voice", status=400, code="upstream_rejected", fallback=False)

    with pytest.raises(JobFailed) as failed:
        await walker.walk(job, client_error)
    assert (failed.value.error.status, failed.value.error.message) == (400, "bad voice")
