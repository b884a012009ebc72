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
from pathlib import Path
from typing import Any, cast

import redis
from arq.connections import RedisSettings, create_pool

from tests.bench._common import AUTH, BENCH_REDIS_URL, cpu_seconds, flush_redis, gateway, ms, percentile
from tests.bench._rawhttp import read_response, request_bytes
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
            candidate, candidate_extra = asyncio.run(_http_load(base, proc.pid, requests, warmup=20 if smoke else 200))
            if not smoke:
                live, _ = asyncio.run(_http_load(base, proc.pid, 2000, warmup=100, request=LIVE, expect=200))
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


def _redis_pid() -> int | None:
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        info = cast(dict[str, Any], client.info("server"))
        pid = int(info["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}/stat").exists() else None


class CpuWatch:
    """CPU seconds used by some processes (and this one) between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._before: dict[str, float] = {}
        self._wall = 0.0

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._before["load_generator"] = time.process_time()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        used = {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}
        used["load_generator"] = time.process_time() - self._before["load_generator"]
        return {f"{name}_cpu_pct_of_core": round(seconds / wall * 100, 1) for name, seconds in used.items()}


async def _raw_enqueue(n: int, *, warmup: int) -> tuple[float, dict[str, Any]]:
    pool = await create_pool(RedisSettings.from_dsn(BENCH_REDIS_URL))
    watch = CpuWatch({"redis": _redis_pid()})
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


async def _http_load(
    base: str, gateway_pid: int, n: int, *, warmup: int, request: bytes = SUBMIT, expect: int = 202
) -> tuple[float, dict[str, Any]]:
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def connection(share: int, record: bool) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(share):
                started = time.perf_counter()
                writer.write(request)
                head, _ = await read_response(reader)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[head.status] = statuses.get(head.status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    async def drive(total: int, record: bool) -> None:
        shares = [total // CONCURRENCY + (1 if i < total % CONCURRENCY else 0) for i in range(CONCURRENCY)]
        await asyncio.gather(*(connection(share, record) for share in shares))

    await drive(warmup, record=False)
    watch = CpuWatch({"gateway": gateway_pid, "redis": _redis_pid()})
    watch.start()
    started = time.perf_counter()
    await drive(n, record=True)
    elapsed = time.perf_counter() - started
    cpu = watch.stop()
    if statuses.get(expect, 0) != n:
        raise RuntimeError(f"expected {n} answers {expect}, got {statuses}")
    return n / elapsed, {
        "elapsed_s": round(elapsed, 3),
        "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99))},
        **cpu,
    }
