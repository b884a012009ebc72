"""LiteLLM's garbage collector: its TTFT tail and its memory, default thresholds vs tuned.

LiteLLM reads `PYTHON_GC_THRESHOLD` ("gen0,gen1,gen2") at start-up and passes it to
`gc.set_threshold`. With CPython's defaults (700,10,10) its process, whose heap holds
millions of objects after start-up, runs full collections often enough that they land in
streams' time to first token: that is the p99 of direct TTFT in `chat_ttft` (~3x its p50).
Fewer collections could also mean more memory held by garbage that only a full collection
frees, so this scenario measures both, in one run.

Two LiteLLM proxies side by side, one per setting, behind the same provider emulator (the
`chat_ttft` model: first token after 50 ms, 20 tokens/s, 40 tokens). Cycles alternate
between them, so drift on the shared machine hits both alike. Each cycle, for each proxy:
a round of streams at 16 concurrent (TTFT measured, as `chat_ttft`'s direct path), then a
volume round of short non-streamed requests (what grows a heap), then its RSS is read.

baseline = TTFT p99 with CPython's default thresholds, candidate = with `TUNED`: the value
MPC-API ships (`sandbox.litellm_proxy.LITELLM_GC_THRESHOLD`) or `MPC_BENCH_GC_THRESHOLD`
(lower is better). `extra` has p50/p90/p99 of both, RSS after warm-up and at the end, RSS per cycle
and LiteLLM's CPU per request. Goals: the tuned p99 lower, and its RSS at the end within
10 % of the default's.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from sandbox.litellm_proxy import LITELLM_GC_THRESHOLD
from tests.bench._chat_load import chat_body, closed_loop, litellm_request, stream_loop
from tests.bench._chat_stack import running_emulator, vm_rss_kib
from tests.bench._common import cpu_seconds, ms, percentile, raise_nofile
from tests.bench._ttft_model import MODEL, PROVIDER_ID, STAGGER_S, STREAMS, TOKENS, TPS, TTFT_MS
from tests.bench.result import BenchResult, better_ratio
from tests.support.litellm import LiteLLMProxy, project_litellm_config, running_litellm

# "" leaves CPython's defaults (LiteLLM ignores an empty value).
DEFAULT = ""
# The setting MPC-API ships, unless another candidate is given.
TUNED = os.environ.get("MPC_BENCH_GC_THRESHOLD", LITELLM_GC_THRESHOLD)
SETTINGS = {"default": DEFAULT, "tuned": TUNED}
VOLUME_CONCURRENCY = 16
GOAL_RSS_GROWTH = 0.10


def run(*, smoke: bool) -> BenchResult:
    # (seconds of cycles per run, streams per round, volume requests per round, warm-up streams)
    budget_s, streams, volume, warmup = (1.0, 8, 40, 4) if smoke else (720.0, 80, 1_500, 64)
    raise_nofile(1024)
    with ExitStack() as stack:
        emulator, _ = stack.enter_context(running_emulator())
        config = project_litellm_config(emulator.base_url)
        proxies = {
            name: stack.enter_context(running_litellm(config, {"PYTHON_GC_THRESHOLD": value}))
            for name, value in SETTINGS.items()
        }
        upstream = proxies["default"].upstream[PROVIDER_ID]
        emulator.set_model(upstream, ttft_ms=TTFT_MS, tps=TPS, tokens=TOKENS)
        return _run(proxies, budget_s, streams, volume, warmup)


def _stream_request(proxy: LiteLLMProxy) -> Callable[[int], bytes]:
    def request(i: int) -> bytes:
        return litellm_request(proxy, PROVIDER_ID, chat_body(MODEL, f"Tell me a story, number {i}", stream=True))

    return request


def _volume_request(proxy: LiteLLMProxy) -> bytes:
    # An answer at once, three tokens: as many requests through LiteLLM's heap as it can take.
    return litellm_request(proxy, PROVIDER_ID, chat_body(MODEL, "[emulate: ttft_ms=0 tokens=3] Say hello"))


def _run(proxies: dict[str, LiteLLMProxy], budget_s: float, streams: int, volume: int, warmup: int) -> BenchResult:
    load_at_start = round(os.getloadavg()[0], 2)
    for name, proxy in proxies.items():
        sample = asyncio.run(stream_loop(proxy.base_url, _stream_request(proxy), warmup, STREAMS, stagger_s=STAGGER_S))
        _check(not sample.failures, f"{name} warm-up: {sample.failures[:3]}")
    rss_after_warmup = {name: _rss_mib(p) for name, p in proxies.items()}
    ttfts: dict[str, list[float]] = {name: [] for name in proxies}
    rss: dict[str, list[float]] = {name: [] for name in proxies}
    requests = dict.fromkeys(proxies, 0)
    cpu_s = dict.fromkeys(proxies, 0.0)
    cycles = 0
    deadline = time.monotonic() + budget_s
    while cycles == 0 or time.monotonic() < deadline:
        cycles += 1
        for name, proxy in proxies.items():
            cpu_before = cpu_seconds(proxy.pid)
            sample = asyncio.run(
                stream_loop(proxy.base_url, _stream_request(proxy), streams, STREAMS, stagger_s=STAGGER_S)
            )
            _check(not sample.failures and len(sample.ttfts) == streams, f"{name} streams: {sample.failures[:3]}")
            ttfts[name] += sample.ttfts
            answered = asyncio.run(closed_loop(proxy.base_url, _volume_request(proxy), volume, VOLUME_CONCURRENCY))
            _check(answered.ok(volume), f"{name} volume: {answered.statuses}")
            cpu_s[name] += cpu_seconds(proxy.pid) - cpu_before
            requests[name] += streams + volume
            rss[name].append(_rss_mib(proxy))

    def pct(name: str, q: float) -> float:
        return ms(percentile(ttfts[name], q))

    rss_growth = {name: round(rss[name][-1] / rss_after_warmup[name] - 1, 3) for name in proxies}
    tuned_vs_default_rss = round(rss["tuned"][-1] / rss["default"][-1], 3)
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "thresholds": {name: value or "CPython default (700,10,10)" for name, value in SETTINGS.items()},
        "cycles": cycles,
        "requests_per_proxy": requests,
        "streams_per_proxy": {name: len(values) for name, values in ttfts.items()},
        "ttft_ms": {
            name: {"p50": pct(name, 50), "p90": pct(name, 90), "p99": pct(name, 99), "max": pct(name, 100)}
            for name in proxies
        },
        "rss_mib_after_warmup": rss_after_warmup,
        "rss_mib_per_cycle": rss,
        "rss_growth_after_warmup": rss_growth,
        "rss_end_tuned_over_default": tuned_vs_default_rss,
        "litellm_cpu_ms_per_request": {name: round(cpu_s[name] / requests[name] * 1000, 2) for name in proxies},
        "goal_tuned_p99_lower": pct("tuned", 99) < pct("default", 99),
        "goal_tuned_rss_within_10pct_of_default": tuned_vs_default_rss <= 1 + GOAL_RSS_GROWTH,
    }
    baseline, candidate = pct("default", 99), pct("tuned", 99)
    return BenchResult(
        scenario="litellm_gc",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p99_ttft",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


def _rss_mib(proxy: LiteLLMProxy) -> float:
    return round(vm_rss_kib(proxy.pid) / 1024, 1)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"litellm_gc: {what}")
