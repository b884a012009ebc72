"""Job submission throughput: `POST /api/jobs` per second on one gateway process, vs raw
`ArqRedis.enqueue_job` calls in a sequential loop (what enqueueing costs with no HTTP at all).

The gateway is `python -m cli serve` in its own process; the load comes from this process:
32 keep-alive connections, each sending its next request when the previous answer arrived
(a minimal asyncio HTTP client, see `_rawhttp` for why not httpx). No worker
runs: the jobs stay queued and the benchmark db is flushed afterwards. CPU use of the
gateway, of this (load-generating) process and of redis-server over the timed run goes in
`extra`, to tell which one was the bottleneck on a shared 2-core machine.

Goal: at least 0.5x the raw enqueue rate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arq.connections import RedisSettings, create_pool

from tests.bench._common import AUTH, BENCH_REDIS_URL, flush_redis, gateway
from tests.bench._load import CpuWatch, http_load, redis_pid
from tests.bench._rawhttp import request_bytes
from tests.bench.result import BenchResult, better_ratio

BODY = b'{"task":"chat_general","input":{"messages":[{"role":"user","content":"hello"}]}}'
CONCURRENCY = 32
SUBMIT = request_bytes("POST", "/api/jobs", {**AUTH, "Content-Type": "application/json"}, BODY)
# The same gateway's cheapest route: what uvicorn + FastAPI + our middleware cost per request.
LIVE = request_bytes("GET", "/health/live", {})
GOAL_RATIO = 0.5


def run(*, smoke: bool) -> BenchResult:
    requests, enqueues = (200, 200) if smoke else (3000, 3000)
    flush_redis()
    try:
        baseline, baseline_extra = asyncio.run(_raw_enqueue(enqueues, warmup=20 if smoke else 200))
        flush_redis()
        with gateway() as (base, proc):
            candidate, candidate_extra = asyncio.run(
                http_load(base, proc.pid, requests, warmup=20 if smoke else 200, request=SUBMIT, expect=202)
            )
            if not smoke:
                live, _ = asyncio.run(http_load(base, proc.pid, 2000, warmup=100, request=LIVE, expect=200))
                candidate_extra["health_live_req_per_s_same_gateway"] = round(live, 1)
            proc.check_alive()
    finally:
        flush_redis()
    ratio = better_ratio(baseline, candidate, higher_is_better=True)
    extra: dict[str, Any] = {
        "requests": requests,
        "concurrency": CONCURRENCY,
        "enqueues": enqueues,
        "http": candidate_extra,
        "raw_enqueue": baseline_extra,
        "goal_ratio_ge_0_5": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="job_submit",
        baseline=round(baseline, 1),
        candidate=round(candidate, 1),
        unit="req_per_s",
        ratio=ratio,
        extra=extra,
    )


async def _raw_enqueue(n: int, *, warmup: int) -> tuple[float, dict[str, Any]]:
    pool = await create_pool(RedisSettings.from_dsn(BENCH_REDIS_URL))
    watch = CpuWatch({"redis": redis_pid()})
    try:
        for i in range(warmup):
            await pool.enqueue_job("bench_noop", i, _queue_name="bench:submit:warmup")
        watch.start()
        started = time.perf_counter()
        for i in range(n):
            job = await pool.enqueue_job("bench_noop", i, _queue_name="bench:submit:arq")
            if job is None:
                raise RuntimeError("enqueue_job returned None")
        elapsed = time.perf_counter() - started
        cpu = watch.stop()
    finally:
        await pool.aclose()
    return n / elapsed, {"elapsed_s": round(elapsed, 3), **cpu}
