"""`/health` and the gateway's idle CPU against the size of the Redis keyspace.

A gateway (`python -m cli serve`, no worker) runs against the benchmark database holding
10,000 or 1,000,000 keys that are not MPC-API's (10,000 and 50,000 in smoke): a day of job
records at 10 jobs/s is ~860,000 keys. At each size: the gateway's CPU time over an idle
interval (its background loops only: breaker snapshot every second, queue gauges every two
seconds), then `GET /health` one request at a time on a keep-alive connection (every answer
200: the gateway reports "degraded" without workers, which is still 200). The two sizes
alternate round by round (small, large, large, small…: keys are added, then deleted) so that
the machine's noise hits both alike; each size's figures are the median of its rounds, and
every round is in `extra`.

Neither `/health` nor a background loop may touch the whole keyspace, so neither may cost
more when the database holds more keys. baseline = `/health` p50 with the small keyspace,
candidate = with the large one; ratio = baseline / candidate.

Goal: ratio ≥ 0.8 (no growth beyond noise), and idle CPU at the large size at most
0.5 % of a core above the small size.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import redis

from tests.bench._common import BENCH_REDIS_URL, cpu_seconds, flush_redis, gateway, ms, percentile
from tests.bench.result import BenchResult, better_ratio

BATCH = 10_000
FILLER_PREFIX = "bench:filler:"  # no MPC-API key starts with this
GOAL_RATIO = 0.8
GOAL_IDLE_GROWTH_PCT = 0.5
# A keyspace-wide scan at the large size takes seconds per request: a round stops its
# requests after this long (with at least MIN_REQUESTS), and `extra` says how many it made.
REQUEST_BUDGET_S = {True: 5.0, False: 60.0}  # by smoke
MIN_REQUESTS = 5


def run(*, smoke: bool) -> BenchResult:
    small, large = (10_000, 50_000) if smoke else (10_000, 1_000_000)
    rounds, requests, idle_s = (1, 30, 2.0) if smoke else (2, 200, 10.0)
    flush_redis()
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    measured: dict[int, list[dict[str, Any]]] = {small: [], large: []}
    try:
        with gateway() as (base, proc), httpx.Client(base_url=base, timeout=120) as http:
            keys_now = 0
            for i in range(rounds):
                for size in (small, large) if i % 2 == 0 else (large, small):
                    _resize(client, keys_now, size)
                    keys_now = size
                    time.sleep(1.0)  # let a pass of each background loop go over the new keyspace
                    idle = _idle_cpu_pct(proc.pid, idle_s)
                    latencies = _health_latencies(http, requests, REQUEST_BUDGET_S[smoke])
                    proc.check_alive()
                    measured[size].append(
                        {
                            "keys": client.dbsize(),
                            "health_p50_ms": ms(percentile(latencies, 50)),
                            "health_p99_ms": ms(percentile(latencies, 99)),
                            "requests": len(latencies),
                            "idle_cpu_pct_of_core": idle,
                        }
                    )
    finally:
        client.close()
        flush_redis()

    def median(size: int, figure: str) -> float:
        return round(float(statistics.median(r[figure] for r in measured[size])), 3)

    baseline, candidate = median(small, "health_p50_ms"), median(large, "health_p50_ms")
    ratio = better_ratio(baseline, candidate, higher_is_better=False)
    idle_by_size = {str(size): median(size, "idle_cpu_pct_of_core") for size in (small, large)}
    idle_growth = round(idle_by_size[str(large)] - idle_by_size[str(small)], 3)
    extra: dict[str, Any] = {
        "keys": {"small": small, "large": large},
        "health_p99_ms": {str(size): median(size, "health_p99_ms") for size in (small, large)},
        "idle_cpu_pct_of_core": idle_by_size,
        "idle_cpu_growth_pct_of_core": idle_growth,
        "idle_window_s": idle_s,
        "rounds": {str(size): runs for size, runs in measured.items()},
        "goals": {
            "health_ratio_ge_0_8": ratio >= GOAL_RATIO,
            "idle_growth_le_0_5pct": idle_growth <= GOAL_IDLE_GROWTH_PCT,
        },
    }
    return BenchResult(
        scenario="health_keyspace",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p50",
        ratio=ratio,
        extra=extra,
    )


def _resize(client: redis.Redis, have: int, want: int) -> None:
    """Filler keys 0..want-1 exist afterwards: MSETs to add (DEBUG POPULATE is refused by a
    default Redis 7), UNLINKs to remove, in pipelined batches."""
    with client.pipeline(transaction=False) as pipe:
        for low in range(have, want, BATCH):
            pipe.mset({f"{FILLER_PREFIX}{i}": b"x" for i in range(low, min(low + BATCH, want))})
            if len(pipe) >= 10:
                pipe.execute()
        for low in range(want, have, BATCH):
            pipe.unlink(*[f"{FILLER_PREFIX}{i}" for i in range(low, min(low + BATCH, have))])
            if len(pipe) >= 10:
                pipe.execute()
        pipe.execute()


def _idle_cpu_pct(pid: int, window_s: float) -> float:
    before = cpu_seconds(pid)
    started = time.perf_counter()
    time.sleep(window_s)
    elapsed = time.perf_counter() - started
    return round((cpu_seconds(pid) - before) / elapsed * 100, 3)


def _health_latencies(http: httpx.Client, requests: int, budget_s: float) -> list[float]:
    for _ in range(3):  # warm the connection and the route
        http.get("/health").raise_for_status()
    latencies: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(latencies) < requests and (len(latencies) < MIN_REQUESTS or time.perf_counter() < deadline):
        started = time.perf_counter()
        response = http.get("/health")
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"/health answered {response.status_code}: {response.text[:500]}")
    return latencies
