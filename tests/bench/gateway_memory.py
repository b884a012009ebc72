"""Gateway memory under a long run of chat requests: RSS after the first 1,000 vs after 100,000.

`python -m cli serve` answers non-streamed `POST /api/chat/completions` from 64 keep-alive
connections (closed loop); two interactive workers answer the jobs. The gateway's RSS
(`VmRSS` in /proc/<pid>/status) is read at checkpoints; baseline = RSS after the first
1,000 requests (200 in smoke), candidate = RSS after the last.

The cheapest chat path, so that the count fits in minutes: the emulator answers at once, and
the workers call it directly (`_chat_stack` upstream="emulator": LiteLLM is bypassed). The
gateway's side of the chain (parse, select, submit, wait on the job's event stream, read
the record, answer) is the same whatever answers the worker, and the gateway never talks to
LiteLLM. On the 2-core machine this path runs ~150-170 requests/s, so 100,000 requests take
about 10 minutes: the run stops early at the checkpoint where the next one would overrun
`TIME_BUDGET_S`, and `extra` says how many requests it made and why it stopped.

Goal: RSS after the last checkpoint within 10 % of RSS after the first.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, cast

import redis

from tests.bench._chat_load import ChainCpu, chat_body, closed_loop, gateway_request
from tests.bench._chat_stack import chat_stack, vm_rss_kib
from tests.bench._common import BENCH_REDIS_URL, flush_redis, ms, percentile, raise_nofile
from tests.bench.result import BenchResult, better_ratio

CONCURRENCY = 64
WORKERS = 2
TARGET = 100_000
TIME_BUDGET_S = 540.0  # for the requests, on top of ~5 s of start-up
GOAL_GROWTH = 0.10
FULL_CHECKPOINTS = (1_000, 2_000, 5_000, 10_000, *range(20_000, TARGET + 1, 10_000))
SMOKE_CHECKPOINTS = (200, 500, 1_000, 2_000)


def run(*, smoke: bool) -> BenchResult:
    checkpoints = SMOKE_CHECKPOINTS if smoke else FULL_CHECKPOINTS
    raise_nofile(4 * CONCURRENCY + 256)
    flush_redis()
    try:
        with chat_stack(workers=WORKERS, upstream="emulator") as stack:
            return _run(stack.gateway_url, stack.gateway_pid, stack.pids(), checkpoints)
    finally:
        flush_redis()


def _mib(kib: int) -> float:
    return round(kib / 1024, 2)


def _run(base: str, gateway_pid: int, pids: dict[str, int | None], checkpoints: tuple[int, ...]) -> BenchResult:
    load_at_start = round(os.getloadavg()[0], 2)
    request = gateway_request(chat_body("gpt-4o", "hi"))
    rss_start = _mib(vm_rss_kib(gateway_pid))
    samples: list[dict[str, Any]] = []
    latencies: list[float] = []
    done = 0
    stopped_by = "target"
    watch = ChainCpu(pids)
    watch.start()
    started = time.perf_counter()
    for checkpoint in checkpoints:
        spent = time.perf_counter() - started
        if done and spent + (checkpoint - done) / (done / spent) > TIME_BUDGET_S:
            stopped_by = "time budget"
            break
        sample = asyncio.run(closed_loop(base, request, checkpoint - done, CONCURRENCY))
        if not sample.ok(checkpoint - done):
            raise RuntimeError(f"requests {done}-{checkpoint}: expected all 200, got {sample.statuses}")
        done = checkpoint
        latencies = sample.latencies  # the latest stretch: is the gateway still as fast?
        samples.append(
            {
                "requests": done,
                "gateway_rss_mib": _mib(vm_rss_kib(gateway_pid)),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "req_per_s": round(sample.rate, 1),
            }
        )
    elapsed = time.perf_counter() - started
    cpu = watch.stop()
    baseline = samples[0]["gateway_rss_mib"]
    candidate = samples[-1]["gateway_rss_mib"]
    growth = (candidate - baseline) / baseline
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "requests_target": checkpoints[-1],
        "requests_done": done,
        "stopped_by": stopped_by,
        "upstream": "emulator, called by the workers directly (LiteLLM bypassed)",
        "concurrency": CONCURRENCY,
        "workers": WORKERS,
        "gateway_rss_mib_at_start": rss_start,
        "baseline_after_requests": samples[0]["requests"],
        "growth_pct": round(growth * 100, 2),
        "checkpoints": samples,
        "req_per_s_overall": round(done / elapsed, 1),
        "last_stretch_latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99))},
        "cpu_pct_of_core": cpu,
        "redis_db_after": _redis_db_size(),
        "goal_growth_le_10pct": growth <= GOAL_GROWTH,
    }
    return BenchResult(
        scenario="gateway_memory",
        baseline=baseline,
        candidate=candidate,
        unit="MiB",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


def _redis_db_size() -> dict[str, Any]:
    """Keys left in the benchmark db (finished jobs keep their record and events for a day)."""
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        return {"keys": cast(int, client.dbsize())}
    finally:
        client.close()
