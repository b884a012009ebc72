"""Client latency while the primary provider is down: MPC-API's breaker and fallback, vs healthy.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
one interactive worker → Redis → gateway, with the breaker's production cool-off (10 s).
Requests pin `"gpt-4o"` (catalog `openai/gpt-4o`), whose fallback chain starts with a model
of another provider. Sequential, non-streamed requests:

1. healthy: no fault, answered by the primary (the baseline);
2. for reference, the same requests pinned to the fallback model, no fault;
3. outage: the emulator answers every request for the primary's upstream model with 503.
   After each answer the breaker hash (`mpc:breaker:<provider>`) is read from Redis and
   the emulator's log counts the calls the primary received, so the run shows after how
   many failed calls the breaker opened and that no call reached the dead provider after.

Baseline: healthy p95. Candidate: outage p95 over the requests sent after the breaker was
seen open (the first few pay a failed call to the primary, then fall back). Every request
must be answered 200: a client sees no error.

For contrast (full run only): LiteLLM's own router fallback, on a second LiteLLM with a
minimal config: `primary` (503) and `backup` with `router_settings.fallbacks` and LiteLLM's
default retries, sequential requests to `primary` (seconds per request: it re-pays the retries
on the dead provider every time).

Goal: outage p95 within 1.2x of healthy p95; breaker open after ≤ 5 failed calls.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis

from queues import keys
from queues.settings import Settings
from tests.bench._chat_load import ChainCpu, Sample, chat_body, gateway_request, sequential
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import BENCH_REDIS_URL, flush_redis, ms, percentile
from tests.bench._rawhttp import Head, request_bytes
from tests.bench.result import BenchResult, better_ratio
from tests.support.litellm import running_litellm

MODEL = "gpt-4o"
GOAL_RATIO = 1.2
GOAL_OPEN_AFTER = 5
ROUTER_REQUESTS = 8


def run(*, smoke: bool) -> BenchResult:
    n, warmup = (20, 5) if smoke else (100, 20)
    flush_redis()
    try:
        with chat_stack(workers=1) as stack:
            result = _run(stack, n, warmup)
            if not smoke:
                result.extra["litellm_router_fallback"] = _litellm_router(stack, ROUTER_REQUESTS)
            return result
    finally:
        flush_redis()


def _run(stack: ChatStack, n: int, warmup: int) -> BenchResult:
    load_at_start = round(os.getloadavg()[0], 2)
    primary, fallback, *_ = stack.chain(task="chat_general", model=MODEL)
    dead = stack.upstream_name(primary["provider_id"])
    primary_request = gateway_request(chat_body(MODEL, "hi"))
    fallback_request = gateway_request(chat_body(fallback["id"], "hi"))
    for request in (primary_request, fallback_request):
        _all_ok(asyncio.run(sequential(stack.gateway_url, request, warmup)), warmup, "warm-up")

    cpu: dict[str, dict[str, float]] = {}
    watch = ChainCpu(stack.pids())
    watch.start()
    healthy = asyncio.run(sequential(stack.gateway_url, primary_request, n))
    cpu["healthy"] = watch.stop()
    _all_ok(healthy, n, "healthy")
    reference = asyncio.run(sequential(stack.gateway_url, fallback_request, n))
    _all_ok(reference, n, "fallback model, healthy")

    stack.emulator.set_model(dead, status=503)
    stack.emulator.clear_requests()
    breaker_key = keys.breaker(primary["provider"])
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    calls_when_open: int | None = None
    open_from: int | None = None  # index of the first request sent after the breaker opened
    states: list[str] = []

    def after(index: int, head: Head, body: bytes, latency: float) -> None:
        nonlocal calls_when_open, open_from
        raw = client.hget(breaker_key, "state")
        state = raw.decode() if isinstance(raw, bytes) else "closed"
        states.append(state)
        if state == "open" and open_from is None:
            open_from = index + 1
            calls_when_open = len(stack.emulator.requests(model=dead))

    try:
        watch.start()
        outage = asyncio.run(sequential(stack.gateway_url, primary_request, n, after))
        cpu["outage"] = watch.stop()
        calls_total = len(stack.emulator.requests(model=dead))
    finally:
        client.close()
        stack.emulator.reset_model(dead)
    stack.check_alive()

    after_open = outage.latencies[open_from:] if open_from is not None else []
    baseline = ms(percentile(healthy.latencies, 95))
    candidate = ms(percentile(after_open, 95)) if after_open else float("inf")
    ratio = better_ratio(baseline, candidate, higher_is_better=False)
    errors = n - outage.statuses.get(200, 0)
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "requests_per_run": n,
        "chain": [m["id"] for m in (primary, fallback)],
        "dead_upstream_model": dead,
        "breaker_cool_off_s": Settings().breaker_cool_off_s,
        "latency_ms": {
            "healthy": _summary(healthy.latencies),
            "fallback_model_healthy": _summary(reference.latencies),
            "outage_all": _summary(outage.latencies),
            "outage_after_breaker_open": _summary(after_open),
        },
        # The requests that paid a failed call to the primary before falling back:
        "outage_before_open_ms": [ms(x) for x in outage.latencies[: open_from or n]][:10],
        "client_errors_during_outage": errors,
        "statuses_during_outage": {str(k): v for k, v in outage.statuses.items()},
        "answered_by_during_outage": outage.models,
        "breaker_open_after_failed_calls": calls_when_open,
        "breaker_open_from_request": open_from,
        "breaker_state_at_end": states[-1] if states else None,
        "primary_calls_total": calls_total,
        "primary_calls_after_open": None if calls_when_open is None else calls_total - calls_when_open,
        "cpu_pct_of_core": cpu,
        "goal_p95_within_1_2x": ratio >= 1 / GOAL_RATIO,
        "goal_open_after_le_5_calls": calls_when_open is not None and calls_when_open <= GOAL_OPEN_AFTER,
        "goal_no_client_errors": errors == 0,
    }
    return BenchResult(
        scenario="provider_outage",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p95",
        ratio=ratio,
        extra=extra,
    )


def _litellm_router(stack: ChatStack, n: int) -> dict[str, Any]:
    """LiteLLM's router fallback with default retries, primary answering 503."""
    api_base = stack.emulator.api_base("openai")
    deployments = [
        {"model_name": name, "litellm_params": {"model": f"openai/{upstream}", "api_base": api_base, "api_key": "x"}}
        for name, upstream in (("primary", "router-dead"), ("backup", "router-backup"))
    ]
    config = {
        "model_list": deployments,
        "router_settings": {"fallbacks": [{"primary": ["backup"]}]},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    stack.emulator.set_model("router-dead", status=503)
    try:
        with running_litellm(config) as proxy:
            headers = {**proxy.auth, "Content-Type": "application/json"}
            body = b'{"model": "primary", "messages": [{"role": "user", "content": "hi"}]}'
            request = request_bytes("POST", "/v1/chat/completions", headers, body)
            direct = body.replace(b'"primary"', b'"backup"')
            backup = request_bytes("POST", "/v1/chat/completions", headers, direct)
            asyncio.run(sequential(proxy.base_url, backup, 3))  # warm-up
            backup_sample = asyncio.run(sequential(proxy.base_url, backup, n))
            stack.emulator.clear_requests()
            sample = asyncio.run(sequential(proxy.base_url, request, n))
            attempts = len(stack.emulator.requests(model="router-dead"))
    finally:
        stack.emulator.reset_model("router-dead")
    return {
        "requests": n,
        "statuses": {str(k): v for k, v in sample.statuses.items()},
        "latency_ms": _summary(sample.latencies),
        "backup_direct_latency_ms": _summary(backup_sample.latencies),
        "primary_attempts_per_request": round(attempts / n, 2),
    }


def _all_ok(sample: Sample, n: int, what: str) -> None:
    if not sample.ok(n):
        raise RuntimeError(f"{what}: expected {n} answers 200, got {sample.statuses}")


def _summary(latencies: list[float]) -> dict[str, float | int]:
    if not latencies:
        return {"n": 0}
    return {
        "n": len(latencies),
        "p50": ms(percentile(latencies, 50)),
        "p95": ms(percentile(latencies, 95)),
        "max": ms(max(latencies)),
    }
