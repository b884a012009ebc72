"""`POST /api/embeddings` calls per second with 16 inputs each, vs the same LiteLLM called directly.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
interactive worker(s) (embed_text runs on the interactive queue class) → Redis → gateway.
The model is pinned (`openai/text-embedding-3-small`, 1,536 dimensions, OpenAI wire); the
emulator answers at once with deterministic unit vectors, so what is measured is the
software in between. Each call embeds the same 16 sentences (about 10 tokens each) as floats,
the default encoding. Load: 16 keep-alive connections, closed loop.

Baseline: the request a worker sends LiteLLM for the same call (`num_retries: 0`), sent
straight to LiteLLM at the same concurrency. MPC-API runs with 1 and then 2 interactive
workers; rounds alternate direct / 1 worker / 2 workers so drift hits all alike. The
candidate is the better of the two worker counts (both are in `extra`), with every process's
CPU per phase, to tell the bottleneck on the 2-core machine.

Goal: at least 0.8x the direct rate.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

from tests.bench._chat_load import ChainCpu, Sample, closed_loop
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, flush_redis, ms, percentile, raise_nofile
from tests.bench._media_load import EMBED_MODEL, embed_body, gateway_request, litellm_request
from tests.bench.result import BenchResult, better_ratio

INPUTS = 16
CONCURRENCY = 16
GOAL_RATIO = 0.8
PHASES = ("direct", "mpc_1_worker", "mpc_2_workers")
TEXTS = [f"Sentence number {i} about caching, queues and the weather in spring." for i in range(INPUTS)]


def run(*, smoke: bool) -> BenchResult:
    rounds, per_phase, warmup = (1, 16, 8) if smoke else (3, 200, 32)
    raise_nofile(1024)
    flush_redis()
    try:
        with chat_stack(workers=1) as stack:
            return _run(stack, rounds, per_phase, warmup)
    finally:
        flush_redis()


def _check_answers(stack: ChatStack) -> dict[str, Any]:
    """One call each way: both answer 16 vectors of the same width (and the gateway's are the
    worker's copy of LiteLLM's)."""
    assert stack.litellm is not None
    body = embed_body(TEXTS)
    direct = httpx.post(
        f"{stack.litellm.base_url}/v1/embeddings",
        json={**body, "num_retries": 0},
        headers=stack.litellm.auth,
        timeout=30,
    )
    mpc = httpx.post(f"{stack.gateway_url}/api/embeddings", json=body, headers=AUTH, timeout=30)
    for name, response in (("direct", direct), ("mpc", mpc)):
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
    ours, theirs = mpc.json()["data"], direct.json()["data"]
    if len(ours) != INPUTS or [d["embedding"] for d in ours] != [d["embedding"] for d in theirs]:
        raise RuntimeError("the gateway's embeddings differ from LiteLLM's")
    return {
        "dimensions": len(ours[0]["embedding"]),
        "answer_bytes": {"direct": len(direct.content), "mpc": len(mpc.content)},
        "mpc_model_header": mpc.headers.get("x-mpc-model"),
    }


def _run(stack: ChatStack, rounds: int, per_phase: int, warmup: int) -> BenchResult:
    assert stack.litellm is not None
    load_at_start = round(os.getloadavg()[0], 2)
    answers = _check_answers(stack)
    body = embed_body(TEXTS)
    direct = litellm_request(stack.litellm, "embeddings", body)
    mpc = gateway_request("embeddings", body)
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
        "model": EMBED_MODEL,
        "inputs_per_call": INPUTS,
        **answers,
        "concurrency": CONCURRENCY,
        "calls_per_phase": per_phase,
        "rounds": rounds,
        "candidate_is": best,
        "calls_per_s": rates,
        "calls_per_s_per_round": {name: [round(s.rate, 1) for s in rows] for name, rows in samples.items()},
        "ratio_vs_direct": {name: better_ratio(baseline, rates[name], higher_is_better=True) for name in PHASES[1:]},
        "latency_ms": {name: _latency(rows) for name, rows in samples.items()},
        "cpu_pct_of_core": {name: _mean(rows) for name, rows in cpu.items()},
        "cpu_ms_per_call": {name: _cpu_per_call(cpu[name], rates[name]) for name in PHASES},
        "litellm_start_s": stack.litellm.start_s,
        "goal_ratio_ge_0_8": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="embeddings_throughput",
        baseline=baseline,
        candidate=candidate,
        unit="calls_per_s",
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


def _cpu_per_call(rows: list[dict[str, float]], rate: float) -> dict[str, float]:
    """CPU milliseconds each process spent per call (percent of a core / calls per s)."""
    return {
        key.removesuffix("_cpu_pct_of_core"): round(pct * 10 / rate, 2)
        for key, pct in _mean(rows).items()
        if key.endswith("_cpu_pct_of_core")
    }
