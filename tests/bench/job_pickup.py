"""Job pickup: enqueue → handler start latency, and an idle worker's CPU.

Candidate: a real `python -m cli worker --queue interactive` process (pub/sub wake-up)
running `tests.bench._pickup_handlers`; jobs are submitted with `queues.submit.submit_job`.
Baseline: a stock arq worker (default poll_delay 0.5 s) in its own process on its own
queue; jobs are enqueued with `ArqRedis.enqueue_job`.

One job at a time: each is submitted after the previous one finished plus a random idle gap
(uniform, up to the stock worker's poll period for the baseline), so submissions fall at
random points of any poll cycle instead of locking onto its phase.

Idle CPU: both workers sit idle side by side while /proc/<pid>/stat utime+stime is read at
the start and end of a window.

Goals: ours p50 ≤ 5 ms, p99 ≤ 20 ms, idle < 1 % of a core.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import msgspec
from arq.connections import RedisSettings, create_pool
from redis.asyncio import Redis

from queues.redis import connect
from queues.store import get_job
from queues.submit import Submission, submit_job
from tests.bench import _stock_arq
from tests.bench._common import (
    BENCH_REDIS_URL,
    OWNER,
    PYTHON,
    Child,
    bench_env,
    child,
    cpu_seconds,
    flush_redis,
    ms,
    percentile,
)
from tests.bench._pickup import announced, blpop_time, wait_final, wait_ready
from tests.bench._pickup_handlers import PICKUP_PREFIX
from tests.bench.result import BenchResult, better_ratio

GOAL_P50_MS = 5.0
GOAL_P99_MS = 20.0
GOAL_IDLE_PCT = 1.0
OURS_GAP_S = 0.2
STOCK_GAP_S = 0.5  # the stock worker's poll_delay


def run(*, smoke: bool) -> BenchResult:
    flush_redis()
    try:
        return asyncio.run(_run(smoke))
    finally:
        flush_redis()


async def _run(smoke: bool) -> BenchResult:
    n_ours, n_stock, idle_s = (20, 5, 1.0) if smoke else (200, 30, 10.0)
    ours_env = bench_env(MPC_WORKER_HANDLERS="tests.bench._pickup_handlers")
    redis = connect(BENCH_REDIS_URL)
    blocking = connect(BENCH_REDIS_URL, socket_timeout=None)
    try:
        with (
            child([PYTHON, "-m", "cli", "worker", "--queue", "interactive"], ours_env) as ours,
            child([PYTHON, "-m", "tests.bench._stock_arq"], bench_env()) as stock,
        ):
            await wait_ready(ours, lambda: announced(redis, ours))
            await wait_ready(stock, lambda: redis.exists(_stock_arq.QUEUE + ":health-check"))
            await asyncio.sleep(0.5 if smoke else 1.0)  # let start-up work settle
            idle = await _idle_cpu_pct({"ours": ours, "stock_arq": stock}, idle_s)
            ours_runs = await _ours_latencies(redis, blocking, n_ours)
            ours.check_alive()
            stock_runs = await _stock_latencies(blocking, n_stock)
            stock.check_alive()
    finally:
        await redis.aclose()
        await blocking.aclose()

    ours_total = [r["total"] for r in ours_runs]
    stock_total = [r["total"] for r in stock_runs]
    baseline = ms(percentile(stock_total, 50))
    candidate = ms(percentile(ours_total, 50))
    ours_p99 = ms(percentile(ours_total, 99))
    breakdown = {
        part: {"p50": ms(percentile(values, 50)), "p99": ms(percentile(values, 99))}
        for part in ("submit_call", "submit_returned_to_handler", "submit_to_mpc_job", "mpc_job_to_handler")
        if (values := [r[part] for r in ours_runs])
    }
    extra: dict[str, Any] = {
        "jobs": {"ours": n_ours, "stock_arq": n_stock},
        "p99_ms": {"ours": ours_p99, "stock_arq": ms(percentile(stock_total, 99))},
        "max_ms": {"ours": ms(max(ours_total)), "stock_arq": ms(max(stock_total))},
        "idle_cpu_pct_of_core": idle,
        "idle_window_s": idle_s,
        "ours_breakdown_ms": breakdown,
        "goals": {
            "p50_le_5ms": candidate <= GOAL_P50_MS,
            "p99_le_20ms": ours_p99 <= GOAL_P99_MS,
            "idle_lt_1pct": idle["ours"] < GOAL_IDLE_PCT,
        },
        "method": (
            f"one job at a time, next submitted after the previous finished plus U(0, gap) idle "
            f"(gap {OURS_GAP_S} s ours, {STOCK_GAP_S} s stock arq); latency = handler's time.time() "
            "- time.time() just before the enqueue call"
        ),
    }
    return BenchResult(
        scenario="job_pickup",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p50",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


async def _idle_cpu_pct(procs: dict[str, Child], window_s: float) -> dict[str, float]:
    before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    started = time.perf_counter()
    await asyncio.sleep(window_s)
    elapsed = time.perf_counter() - started
    return {name: round((cpu_seconds(p.pid) - before[name]) / elapsed * 100, 3) for name, p in procs.items()}


async def _ours_latencies(redis: Redis, blocking: Redis, n: int) -> list[dict[str, float]]:
    runs: list[dict[str, float]] = []
    for i in range(n):
        await asyncio.sleep(random.uniform(0, OURS_GAP_S))
        submission = Submission(
            task="chat_general",
            queue="interactive",
            input_json=msgspec.json.encode({"i": i}),
            params_json=b"{}",
            owner=OWNER,
        )
        enqueued = time.time()
        record, _ = await submit_job(redis, submission)
        submitted = time.time()
        handler_started = await blpop_time(blocking, PICKUP_PREFIX + record.id)
        await wait_final(blocking, record.id)
        job = await get_job(redis, record.id)
        if job is None or job.started_at is None or job.status != "succeeded":
            raise RuntimeError(f"job {record.id} did not run as expected: {job}")
        runs.append(
            {
                "total": handler_started - enqueued,
                "submit_call": submitted - enqueued,
                "submit_returned_to_handler": handler_started - submitted,
                "submit_to_mpc_job": job.started_at - enqueued,
                "mpc_job_to_handler": handler_started - job.started_at,
            }
        )
    return runs


async def _stock_latencies(blocking: Redis, n: int) -> list[dict[str, float]]:
    pool = await create_pool(RedisSettings.from_dsn(BENCH_REDIS_URL))
    runs: list[dict[str, float]] = []
    try:
        for _ in range(n):
            await asyncio.sleep(random.uniform(0, STOCK_GAP_S))
            enqueued = time.time()
            job = await pool.enqueue_job(_stock_arq.FUNCTION, _queue_name=_stock_arq.QUEUE)
            if job is None:
                raise RuntimeError("enqueue_job returned None")
            started = await blpop_time(blocking, _stock_arq.STARTS_PREFIX + job.job_id)
            await job.result(timeout=10, poll_delay=0.005)
            runs.append({"total": started - enqueued})
    finally:
        await pool.aclose()
    return runs
