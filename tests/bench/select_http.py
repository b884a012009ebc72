"""Select-model over HTTP: `POST /api/select-model` requests per second on one gateway
process vs a bare FastAPI endpoint that only parses a pydantic body of the same shape and
answers a constant dict (`tests.bench._bare_app --select`).

Both are uvicorn with uvloop and httptools in a process of their own, loaded from this
process by the closed-loop keep-alive client of `_load` (32 connections, each sending its
next request when the previous answer arrived). Five realistic bodies rotate (tiers,
capabilities, provider deny list, domains, context size); every answer must be 200. The two
servers alternate round by round so machine noise hits both alike; the median round of each
counts, and every round is in `extra`, with each server's CPU time per request (less
sensitive than req/s to other processes on a shared machine: `cpu_ratio` compares those).

The gateway also authenticates the key, runs the Model Brain on the real catalog and counts
the selection in Prometheus; the bare app does none of that, so a ratio ≥ 1.0 means
msgspec decoding and encoding on our path pay for the whole selection.

Goal: ratio ≥ 1.0.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from sandbox.processes import free_port
from tests.bench._common import AUTH, PYTHON, bench_env, child, flush_redis, gateway, wait_http_ok
from tests.bench._load import http_load
from tests.bench._rawhttp import request_bytes
from tests.bench.result import BenchResult, better_ratio

BODIES = (
    b'{"task":"chat_general","tier":"strong"}',
    b'{"task":"rag_rewrite"}',
    b'{"task":"code_generate","tier":"flagship","capabilities":["tools"]}',
    b'{"task":"chat_general","providers":{"deny":["openai","anthropic"]},"fallbacks":2}',
    b'{"task":"summarize","domains":["rag"],"min_context":50000}',
)
CONCURRENCY = 32
GOAL_RATIO = 1.0


def requests_for(path: str) -> list[bytes]:
    headers = {**AUTH, "Content-Type": "application/json"}
    return [request_bytes("POST", path, headers, body) for body in BODIES]


def run(*, smoke: bool) -> BenchResult:
    # Rounds of ~1-2 s each, alternating which server goes first: shorter ones were noisy here.
    rounds, n, warmup = (1, 200, 20) if smoke else (5, 10_000, 500)
    flush_redis()
    rates: dict[str, list[float]] = {"gateway": [], "bare": []}
    details: dict[str, list[dict[str, Any]]] = {"gateway": [], "bare": []}
    try:
        port = free_port()
        bare_args = [PYTHON, "-m", "tests.bench._bare_app", str(port), "--select"]
        with child(bare_args, bench_env()) as bare, gateway() as (base, ours):
            bare_base = f"http://127.0.0.1:{port}"
            wait_http_ok(bare, f"{bare_base}/health", interval=0.02)
            targets = {
                "gateway": (base, ours.pid, requests_for("/api/select-model")),
                "bare": (bare_base, bare.pid, requests_for("/select")),
            }
            for i in range(rounds):
                for name in ("gateway", "bare") if i % 2 == 0 else ("bare", "gateway"):
                    url, pid, requests = targets[name]
                    rate, extra = asyncio.run(
                        http_load(url, pid, n, warmup=warmup, request=requests, expect=200, concurrency=CONCURRENCY)
                    )
                    rates[name].append(rate)
                    details[name].append({"req_per_s": round(rate, 1), **extra})
            ours.check_alive()
            bare.check_alive()
    finally:
        flush_redis()
    baseline = statistics.median(rates["bare"])
    candidate = statistics.median(rates["gateway"])
    ratio = better_ratio(baseline, candidate, higher_is_better=True)

    def p99(name: str) -> float:
        return statistics.median(d["latency_ms"]["p99"] for d in details[name])

    def cpu_us(name: str) -> float:
        """Median server CPU time per request, in microseconds."""
        return statistics.median(d["server_cpu_pct_of_core"] * 1e4 / d["req_per_s"] for d in details[name])

    extra: dict[str, Any] = {
        "requests_per_round": n,
        "rounds": rounds,
        "concurrency": CONCURRENCY,
        "bodies": len(BODIES),
        "gateway_p99_ms": p99("gateway"),
        "bare_p99_ms": p99("bare"),
        "gateway_cpu_us_per_req": round(cpu_us("gateway"), 1),
        "bare_cpu_us_per_req": round(cpu_us("bare"), 1),
        "cpu_ratio": better_ratio(cpu_us("bare"), cpu_us("gateway"), higher_is_better=False),
        "gateway_rounds": details["gateway"],
        "bare_rounds": details["bare"],
        "goal_ratio_ge_1_0": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="select_http",
        baseline=round(baseline, 1),
        candidate=round(candidate, 1),
        unit="req_per_s",
        ratio=ratio,
        extra=extra,
    )
