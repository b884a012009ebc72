"""Non-streamed chat completions per second through MPC-API, vs the same LiteLLM called directly.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
interactive worker(s) → Redis → gateway. The model is pinned (`"gpt-4o"`, catalog
`openai/gpt-4o`); the emulator answers at once (latency 0, a ~10-token reply), so what is
measured is the software in between. Load: 16 keep-alive connections, closed loop.

Baseline: the request a worker sends LiteLLM for the same chat, sent straight to LiteLLM at
the same concurrency. MPC-API runs with 1 and then 2 interactive worker processes; rounds
alternate direct / 1 worker / 2 workers so drift on the shared machine hits all alike. The
candidate is the better of the two worker counts (both are in `extra`). CPU of every process
of the chain per phase is in `extra.cpu_pct_of_core`, to tell who the bottleneck is on a
2-core machine where all of them (and the load generator) share the cores.

Goal: at least 0.8x the direct rate.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.bench._chat_load import ChainCpu, Sample, chat_body, closed_loop, gateway_request, litellm_request
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import flush_redis, ms, percentile, raise_nofile
from tests.bench.result import BenchResult, better_ratio

MODEL = "gpt-4o"
PROVIDER_ID = "openai/gpt-4o"
CONCURRENCY = 16
GOAL_RATIO = 0.8
PHASES = ("direct", "mpc_1_worker", "mpc_2_workers")


def run(*, smoke: bool) -> BenchResult:
    rounds, per_phase, warmup = (1, 64, 32) if smoke else (2, 800, 96)
    raise_nofile(1024)
    flush_redis()
    try:
        with chat_stack(workers=1) as stack:
            return _run(stack, rounds, per_phase, warmup)
    finally:
        flush_redis()


def _run(stack: ChatStack, rounds: int, per_phase: int, warmup: int) -> BenchResult:
    assert stack.litellm is not None
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
    body = chat_body(MODEL, "Say hello")
    direct = litellm_request(stack.litellm, PROVIDER_ID, body)
    mpc = gateway_request(body)
    samples: dict[str, list[Sample]] = {name: [] for name in PHASES}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in PHASES}

    def phase(name: str, base: str, request: bytes) -> None:
        _expect(asyncio.run(closed_loop(base, request, warmup, CONCURRENCY)), warmup, f"{name} warm-up")
        watch = ChainCpu(stack.pids())
        watch.start()
        sample = asyncio.run(closed_loop(base, request, per_phase, CONCURRENCY))
        cpu[name].append(watch.stop())
        _expect(sample, per_phase, name)
        samples[name].append(sample)

    for _ in range(rounds):
        phase("direct", stack.litellm.base_url, direct)
        phase("mpc_1_worker", stack.gateway_url, mpc)
        stack.add_workers(1)
        phase("mpc_2_workers", stack.gateway_url, mpc)
        stack.stop_last_worker()
    stack.check_alive()

    rates = {name: _rate(rows) for name, rows in samples.items()}
    baseline = rates["direct"]
    best = max(PHASES[1:], key=lambda name: rates[name])
    candidate = rates[best]
    ratio = better_ratio(baseline, candidate, higher_is_better=True)
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "concurrency": CONCURRENCY,
        "requests_per_phase": per_phase,
        "rounds": rounds,
        "candidate_is": best,
        "req_per_s": rates,
        "req_per_s_per_round": {name: [round(s.rate, 1) for s in rows] for name, rows in samples.items()},
        "ratio_vs_direct": {name: better_ratio(baseline, rates[name], higher_is_better=True) for name in PHASES[1:]},
        "latency_ms": {name: _latency(rows) for name, rows in samples.items()},
        "cpu_pct_of_core": {name: _mean(rows) for name, rows in cpu.items()},
        "cpu_ms_per_request": {name: _cpu_per_request(cpu[name], rates[name]) for name in PHASES},
        "litellm_start_s": stack.litellm.start_s,
        "goal_ratio_ge_0_8": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="chat_throughput",
        baseline=baseline,
        candidate=candidate,
        unit="req_per_s",
        ratio=ratio,
        extra=extra,
    )


def _expect(sample: Sample, n: int, what: str) -> None:
    if not sample.ok(n):
        raise RuntimeError(f"{what}: expected {n} answers 200, got {sample.statuses}")


def _rate(rows: list[Sample]) -> float:
    return round(sum(s.count for s in rows) / sum(s.elapsed for s in rows), 1)


def _latency(rows: list[Sample]) -> dict[str, float]:
    latencies = [x for s in rows for x in s.latencies]
    return {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99))}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    names = {key for row in rows for key in row}
    return {key: round(sum(row.get(key, 0.0) for row in rows) / len(rows), 1) for key in sorted(names)}


def _cpu_per_request(rows: list[dict[str, float]], rate: float) -> dict[str, float]:
    """CPU milliseconds each process spent per request (percent of a core / requests per s)."""
    return {
        key.removesuffix("_cpu_pct_of_core"): round(pct * 10 / rate, 2)
        for key, pct in _mean(rows).items()
        if key.endswith("_cpu_pct_of_core")
    }
