"""Select-model over HTTP with per-key limits on vs off, in one gateway process.

The same closed-loop load as `select_http` (32 keep-alive connections, its five bodies)
alternates round by round between two keys on one gateway: the bootstrap key (no limits:
the baseline) and a managed key with a requests-per-minute, a tokens-per-minute and a
jobs-at-once limit, none of which it reaches. Every answer must be 200; one answer to each
key is checked first for the RateLimit headers (the limited key's only). What the limited key costs: the lease of
requests from Redis (one Lua call per lease, a fiftieth of the limit: `queues/limits.py`),
the local count and the two headers on each answer. The median round of each key counts;
CPU time per request of the gateway is in `extra` too.

Goal: limited >= 0.9 x unlimited req/s.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import httpx

from queues.api_keys import KeyLimits, create_key
from queues.redis import connect
from tests.bench._common import AUTH, BENCH_REDIS_URL, flush_redis, gateway
from tests.bench._load import http_load
from tests.bench._rawhttp import request_bytes
from tests.bench.result import BenchResult, better_ratio
from tests.bench.select_http import BODIES, CONCURRENCY

GOAL_RATIO = 0.9
# High enough never to refuse in a run, low enough that leases are taken during it
# (a lease is 1/50 of the limit: 12,000 requests here, several per 5-round run).
LIMITS = KeyLimits(rpm=600_000, tpm=10_000_000, concurrency={"media": 4})


def _requests(auth: dict[str, str]) -> list[bytes]:
    headers = {**auth, "Content-Type": "application/json"}
    return [request_bytes("POST", "/api/select-model", headers, body) for body in BODIES]


async def _limited_key() -> dict[str, str]:
    redis = connect(BENCH_REDIS_URL)
    try:
        _, secret = await create_key(redis, "bench-limited", limits=LIMITS)
    finally:
        await redis.aclose()
    return {"Authorization": f"Bearer {secret}"}


def _check_headers(base: str, limited_auth: dict[str, str]) -> None:
    for auth, limited in ((limited_auth, True), (AUTH, False)):
        answer = httpx.post(f"{base}/api/select-model", headers=auth, json={"task": "tts"}, timeout=10)
        answer.raise_for_status()
        if ("ratelimit-policy" in answer.headers) != limited or ("ratelimit" in answer.headers) != limited:
            raise RuntimeError(f"RateLimit headers {'missing' if limited else 'sent'} for the {limited=} key")


def run(*, smoke: bool) -> BenchResult:
    rounds, n, warmup = (1, 200, 20) if smoke else (5, 10_000, 500)
    flush_redis()
    rates: dict[str, list[float]] = {"limited": [], "unlimited": []}
    details: dict[str, list[dict[str, Any]]] = {"limited": [], "unlimited": []}
    try:
        limited_auth = asyncio.run(_limited_key())  # before the gateway starts: it loads the keys first
        with gateway() as (base, ours):
            requests = {"limited": _requests(limited_auth), "unlimited": _requests(AUTH)}
            _check_headers(base, limited_auth)
            for i in range(rounds):
                for name in ("limited", "unlimited") if i % 2 == 0 else ("unlimited", "limited"):
                    rate, extra = asyncio.run(
                        http_load(
                            base,
                            ours.pid,
                            n,
                            warmup=warmup,
                            request=requests[name],
                            expect=200,
                            concurrency=CONCURRENCY,
                        )
                    )
                    rates[name].append(rate)
                    details[name].append({"req_per_s": round(rate, 1), **extra})
            ours.check_alive()
    finally:
        flush_redis()
    baseline = statistics.median(rates["unlimited"])
    candidate = statistics.median(rates["limited"])
    ratio = better_ratio(baseline, candidate, higher_is_better=True)

    def cpu_us(name: str) -> float:
        return statistics.median(d["server_cpu_pct_of_core"] * 1e4 / d["req_per_s"] for d in details[name])

    extra: dict[str, Any] = {
        "requests_per_round": n,
        "rounds": rounds,
        "concurrency": CONCURRENCY,
        "limits": {"rpm": LIMITS.rpm, "tpm": LIMITS.tpm, "concurrency": LIMITS.concurrency},
        "limited_p99_ms": statistics.median(d["latency_ms"]["p99"] for d in details["limited"]),
        "unlimited_p99_ms": statistics.median(d["latency_ms"]["p99"] for d in details["unlimited"]),
        "limited_cpu_us_per_req": round(cpu_us("limited"), 1),
        "unlimited_cpu_us_per_req": round(cpu_us("unlimited"), 1),
        "cpu_ratio": better_ratio(cpu_us("unlimited"), cpu_us("limited"), higher_is_better=False),
        "limited_rounds": details["limited"],
        "unlimited_rounds": details["unlimited"],
        "goal_ratio_ge_0_9": ratio >= GOAL_RATIO,
    }
    return BenchResult(
        scenario="select_http_limited",
        baseline=round(baseline, 1),
        candidate=round(candidate, 1),
        unit="req_per_s",
        ratio=ratio,
        extra=extra,
    )
