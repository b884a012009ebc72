"""What `plan_overhead` and `plan_parallel` share: the stack, the client's own chain of chat
calls (the baseline), and a plan run as one request (`Prefer: wait`).

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM → one
interactive worker (the steps) and one batch worker (the plan job) → Redis → gateway. The
chat model is pinned (`gpt-4o-mini`) with a fixed emulator latency per call, so each call
costs the same in both arms and what differs is the plan engine. Rounds alternate the two
arms so drift hits both alike; every call is one sample, sent one at a time. The smoke run
skips LiteLLM (the workers call the emulator's OpenAI wire straight).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, flush_redis, ms, percentile
from tests.bench.result import BenchResult, better_ratio

MODEL = "gpt-4o-mini"
GOAL_ADDED_P50_MS = 15.0
WAIT = {"Prefer": "wait=60"}


def chat_step(step_id: str, *deps: str, sources: tuple[str, ...] = ()) -> dict[str, Any]:
    inputs = [{"name": f"in{i}", "source": s} for i, s in enumerate(sources or ("request.input",))]
    return {
        "id": step_id,
        "task": "chat_general",
        "description": f"Step {step_id}.",
        "depends_on": list(deps),
        "inputs": inputs,
    }


def chat_call(client: httpx.Client, text: str) -> str:
    response = client.post(
        "/api/chat/completions",
        json={"model": MODEL, "messages": [{"role": "system", "content": "Step."}, {"role": "user", "content": text}]},
    )
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def plan_call(client: httpx.Client, steps: list[dict[str, Any]], text: str) -> dict[str, Any]:
    body = {"steps": steps, "input": text, "model": MODEL, "execute": True}
    response = client.post("/api/orchestrate", json=body, headers=WAIT)
    job: dict[str, Any] = response.json()
    if job.get("status") != "succeeded":
        raise RuntimeError(f"plan did not succeed: {job}")
    return job


def compare(
    scenario: str,
    *,
    smoke: bool,
    latency_ms: float,
    baseline: Callable[[httpx.Client], object],
    candidate: Callable[[httpx.Client], dict[str, Any]],
    extra: dict[str, Any],
) -> BenchResult:
    rounds, per_round, warmup = (1, 3, 1) if smoke else (5, 30, 5)
    flush_redis()
    # The smoke run (part of `make test`) only proves the scenario runs: the workers call the
    # emulator straight, without LiteLLM's ~15 s start.
    with chat_stack(workers=1, upstream="emulator" if smoke else "litellm") as stack:
        stack.add_workers(1, "batch")
        _pin_latency(stack, latency_ms)
        with httpx.Client(base_url=stack.gateway_url, headers=AUTH, timeout=60) as client:
            for _ in range(warmup):
                baseline(client)
                candidate(client)
            base: list[float] = []
            cand: list[float] = []
            engine: list[float] = []
            for _ in range(rounds):
                for _ in range(per_round):
                    began = time.perf_counter()
                    baseline(client)
                    base.append(time.perf_counter() - began)
                for _ in range(per_round):
                    began = time.perf_counter()
                    job = candidate(client)
                    cand.append(time.perf_counter() - began)
                    engine.append(job["output"]["duration_ms"] / 1000)
        stack.check_alive()
    base_p50, cand_p50 = percentile(base, 50), percentile(cand, 50)
    added = ms(cand_p50 - base_p50)
    return BenchResult(
        scenario=scenario,
        baseline=ms(base_p50),
        candidate=ms(cand_p50),
        unit="ms_p50",
        ratio=better_ratio(base_p50, cand_p50, higher_is_better=False),
        extra={
            **extra,
            "samples": len(cand),
            "added_p50_ms": added,
            "goal_added_p50_ms": GOAL_ADDED_P50_MS,
            "goal_met": added <= GOAL_ADDED_P50_MS,
            "baseline_p90_ms": ms(percentile(base, 90)),
            "candidate_p90_ms": ms(percentile(cand, 90)),
            "plan_job_run_p50_ms": ms(percentile(engine, 50)),
            "emulator_latency_ms": latency_ms,
            "smoke": smoke,
        },
    )


def _pin_latency(stack: ChatStack, latency_ms: float) -> None:
    provider_id = stack.chain(task="chat_general", model=MODEL)[0]["provider_id"]
    stack.emulator.set_model(stack.upstream_name(provider_id), latency_ms=latency_ms)
