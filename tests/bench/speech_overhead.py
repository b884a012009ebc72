"""`POST /api/audio/speech` (about 100 KB of audio), 8 at a time, vs the same LiteLLM called directly.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
one media worker (tts runs on the media queue class; its handler streams the audio into the
artifact store and, because the endpoint asks for it, as output events the gateway relays)
→ Redis → gateway. The model is pinned (`openai/gpt-4o-mini-tts`, OpenAI wire), mp3 (the
OpenAI default). The emulator's speech is real (espeak-ng, then ffmpeg to mp3), made once
per text and then served from its cache, at once (no latency set): what is measured is the
software in between, not espeak-ng. The text is sized so the answer is ~100 KB.

Latency is request sent → last audio byte received; 8 keep-alive connections, closed loop.
Baseline: the request a media worker sends LiteLLM for the same speech (`num_retries: 0`),
sent straight to LiteLLM's `/v1/audio/speech`. Rounds alternate direct / MPC-API so drift
hits both alike.

Goals: MPC-API adds at most 10 ms at p50; at least 0.8x the direct rate.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from typing import Any

import httpx

from tests.bench._chat_load import ChainCpu, Sample, closed_loop
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, flush_redis, ms, percentile, raise_nofile
from tests.bench._media_load import SPEECH_MODEL, gateway_request, litellm_request, speech_body
from tests.bench.result import BenchResult, better_ratio

CONCURRENCY = 8
GOAL_ADDED_P50_MS = 10.0
GOAL_RATIO = 0.8
PATHS = ("direct", "mpc")
# ~13 s of espeak-ng speech: ~100 KB of mp3 at the emulator's 64 kbit/s.
TEXT = (
    "The quarterly report is ready. Revenue grew in every region, led by strong demand for the "
    "new storage service. Costs stayed flat, so the margin improved by three points. The team "
    "will present the details on Thursday morning, and questions are welcome before then."
)


def run(*, smoke: bool) -> BenchResult:
    rounds, per_round, warmup = (1, 24, 8) if smoke else (6, 120, 32)
    raise_nofile(1024)
    flush_redis()
    try:
        with chat_stack(workers=0, media_workers=1) as stack:
            return _run(stack, rounds, per_round, warmup)
    finally:
        flush_redis()


def _check_answers(stack: ChatStack) -> dict[str, Any]:
    """One call each way: the same audio bytes both ways."""
    assert stack.litellm is not None
    body = speech_body(TEXT)
    direct = httpx.post(
        f"{stack.litellm.base_url}/v1/audio/speech",
        json={**body, "num_retries": 0},
        headers=stack.litellm.auth,
        timeout=60,
    )
    mpc = httpx.post(f"{stack.gateway_url}/api/audio/speech", json=body, headers=AUTH, timeout=60)
    for name, response in (("direct", direct), ("mpc", mpc)):
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
    if direct.content != mpc.content:
        raise RuntimeError(
            f"the gateway's audio ({len(mpc.content)} B) differs from LiteLLM's ({len(direct.content)} B)"
        )
    return {
        "audio_bytes": len(mpc.content),
        "content_type": {"direct": direct.headers.get("content-type"), "mpc": mpc.headers.get("content-type")},
        "mpc_transfer_encoding": mpc.headers.get("transfer-encoding"),
    }


def _run(stack: ChatStack, rounds: int, per_round: int, warmup: int) -> BenchResult:
    assert stack.litellm is not None
    load_at_start = round(os.getloadavg()[0], 2)
    answers = _check_answers(stack)
    body = speech_body(TEXT)
    requests = {
        "direct": (stack.litellm.base_url, litellm_request(stack.litellm, "speech", body)),
        "mpc": (stack.gateway_url, gateway_request("speech", body)),
    }
    for name, (base, request) in requests.items():
        _expect(asyncio.run(closed_loop(base, request, warmup, CONCURRENCY)), warmup, f"{name} warm-up")
    samples: dict[str, list[Sample]] = {name: [] for name in PATHS}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
    for _ in range(rounds):
        for name, (base, request) in requests.items():
            watch = ChainCpu(stack.pids())
            watch.start()
            sample = asyncio.run(closed_loop(base, request, per_round, CONCURRENCY))
            cpu[name].append(watch.stop())
            _expect(sample, per_round, name)
            samples[name].append(sample)
    stack.check_alive()

    def pct(name: str, q: float) -> float:
        return ms(percentile([x for s in samples[name] for x in s.latencies], q))

    rates = {
        name: round(sum(s.count for s in rows) / sum(s.elapsed for s in rows), 1) for name, rows in samples.items()
    }
    per_round_p50 = {name: [ms(percentile(s.latencies, 50)) for s in rows] for name, rows in samples.items()}
    added_p50 = round(pct("mpc", 50) - pct("direct", 50), 3)
    throughput_ratio = better_ratio(rates["direct"], rates["mpc"], higher_is_better=True)
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "model": SPEECH_MODEL,
        "format": "mp3",
        "text_chars": len(TEXT),
        **answers,
        "concurrency": CONCURRENCY,
        "calls_per_path": rounds * per_round,
        "rounds": rounds,
        "added_p50_ms": added_p50,
        "added_p50_ms_median_of_round_pairs": round(
            statistics.median(m - d for d, m in zip(per_round_p50["direct"], per_round_p50["mpc"], strict=True)), 3
        ),
        "latency_ms": {name: {"p50": pct(name, 50), "p90": pct(name, 90), "p99": pct(name, 99)} for name in PATHS},
        "latency_p50_ms_per_round": per_round_p50,
        "calls_per_s": rates,
        "throughput_ratio": throughput_ratio,
        "cpu_pct_of_core": {name: _mean(rows) for name, rows in cpu.items()},
        "litellm_start_s": stack.litellm.start_s,
        "goal_added_p50_le_10ms": added_p50 <= GOAL_ADDED_P50_MS,
        "goal_throughput_ge_0_8": throughput_ratio >= GOAL_RATIO,
    }
    baseline, candidate = pct("direct", 50), pct("mpc", 50)
    return BenchResult(
        scenario="speech_overhead",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p50_latency",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


def _expect(sample: Sample, n: int, what: str) -> None:
    if not sample.ok(n):
        raise RuntimeError(f"{what}: expected {n} answers 200, got {sample.statuses}")


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    names = {key for row in rows for key in row}
    return {key: round(sum(row.get(key, 0.0) for row in rows) / len(rows), 1) for key in sorted(names)}
