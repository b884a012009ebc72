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

`extra.breakdown_p50_ms` splits each MPC-API call by the wall clock (one machine, one clock):
the job record's created/started/finished times and the Redis stream ids of its first and
last `output` event (the audio deltas), against when the client sent the request and got the
first and last byte. `extra.one_at_a_time` is the same calls one after another, where nothing
competes for the 2 cores. The media worker's CPU includes the ffmpeg processes it runs
(`media_worker_children`: CPU of its reaped child processes).

Goals: MPC-API adds at most 10 ms at p50; at least 0.8x the direct rate.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis

from queues import keys
from tests.bench._chat_load import ChainCpu
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, BENCH_REDIS_URL, children_cpu_seconds, flush_redis, ms, percentile, raise_nofile
from tests.bench._media_load import SPEECH_MODEL, gateway_request, litellm_request, speech_body
from tests.bench._rawhttp import body_pieces, read_head
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


@dataclass(frozen=True, slots=True)
class Call:
    sent: float  # time.time() the request was written
    first: float  # time.time() the first body byte arrived
    end: float  # time.time() the last body byte arrived
    body_bytes: int
    job_id: str | None  # X-MPC-Job-Id, when the gateway answered

    @property
    def latency(self) -> float:
        return self.end - self.sent


@dataclass
class Calls:
    calls: list[Call] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return [c.latency for c in self.calls]

    @property
    def rate(self) -> float:
        return len(self.calls) / self.elapsed if self.elapsed else 0.0


async def timed_loop(base: str, request: bytes, n: int, concurrency: int) -> Calls:
    """`n` calls over `concurrency` keep-alive connections, closed loop; each answer's body is
    read to its end, with the wall-clock times of its first and last byte."""
    host, port = base.removeprefix("http://").split(":")
    out = Calls()

    async def connection(share: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 22)
        try:
            for _ in range(share):
                sent = time.time()
                writer.write(request)
                head = await read_head(reader)
                first, size = 0.0, 0
                async for piece in body_pieces(reader, head):
                    first = first or time.time()
                    size += len(piece)
                out.statuses[head.status] = out.statuses.get(head.status, 0) + 1
                out.calls.append(Call(sent, first, time.time(), size, head.headers.get("x-mpc-job-id")))
        finally:
            writer.close()
            await writer.wait_closed()

    shares = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(share) for share in shares if share))
    out.elapsed = time.perf_counter() - started
    return out


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
        _expect(asyncio.run(timed_loop(base, request, warmup, CONCURRENCY)), warmup, f"{name} warm-up")
    alone = {
        name: ms(percentile(_expect(asyncio.run(timed_loop(base, request, 8, 1)), 8, name).latencies, 50))
        for name, (base, request) in requests.items()
    }
    samples: dict[str, list[Calls]] = {name: [] for name in PATHS}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
    worker = stack.media_workers[0].pid
    for _ in range(rounds):
        for name, (base, request) in requests.items():
            watch = ChainCpu(stack.pids())
            children = children_cpu_seconds(worker)
            watch.start()
            sample = asyncio.run(timed_loop(base, request, per_round, CONCURRENCY))
            used = watch.stop()
            used["media_worker_children_cpu_pct_of_core"] = round(
                (children_cpu_seconds(worker) - children) / sample.elapsed * 100, 1
            )
            cpu[name].append(used)
            samples[name].append(_expect(sample, per_round, name))
    stack.check_alive()

    def latencies(name: str) -> list[float]:
        return [x for s in samples[name] for x in s.latencies]

    def pct(name: str, q: float) -> float:
        return ms(percentile(latencies(name), q))

    rates = {
        name: round(sum(len(s.calls) for s in rows) / sum(s.elapsed for s in rows), 1) for name, rows in samples.items()
    }
    per_round_p50 = {name: [ms(percentile(s.latencies, 50)) for s in rows] for name, rows in samples.items()}
    added_p50 = round(pct("mpc", 50) - pct("direct", 50), 3)
    throughput_ratio = better_ratio(rates["direct"], rates["mpc"], higher_is_better=True)
    direct_first = [c.first - c.sent for s in samples["direct"] for c in s.calls]
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
        "one_at_a_time_p50_ms": {**alone, "added": round(alone["mpc"] - alone["direct"], 3)},
        "calls_per_s": rates,
        "throughput_ratio": throughput_ratio,
        "direct_first_byte_p50_ms": ms(percentile(direct_first, 50)),
        "breakdown_p50_ms": _breakdown([c for s in samples["mpc"] for c in s.calls]),
        "cpu_pct_of_core": {name: _mean(rows) for name, rows in cpu.items()},
        "cpu_ms_per_call": {name: _per_call(cpu[name], rates[name]) for name in PATHS},
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


def _breakdown(calls: list[Call]) -> dict[str, Any]:
    """Each call split at the job record's times and its first and last output event."""
    parts: dict[str, list[float]] = {}
    deltas: list[int] = []

    def add(part: str, seconds: float) -> None:
        parts.setdefault(part, []).append(seconds)

    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        for call in calls:
            if call.job_id is None:
                continue
            fields = ["created_at", "started_at", "finished_at"]
            created, started, finished = cast(list[bytes | None], client.hmget(keys.job(call.job_id), fields))
            outputs = _output_times(client, call.job_id)
            if created is None or started is None or finished is None or not outputs:
                continue
            deltas.append(len(outputs))
            add("gateway_submit", float(created) - call.sent)
            add("queue_pickup", float(started) - float(created))
            add("worker_to_first_delta", outputs[0] - float(started))
            add("first_delta_to_client", call.first - outputs[0])
            add("first_to_last_delta", outputs[-1] - outputs[0])
            add("last_delta_to_job_end", float(finished) - outputs[-1])
            add("job_end_to_client_end", call.end - float(finished))
    finally:
        client.close()
    out: dict[str, Any] = {part: ms(percentile(values, 50)) for part, values in parts.items()}
    out["deltas_per_call_p50"] = percentile(deltas, 50)
    return out


def _output_times(client: redis.Redis, job_id: str) -> list[float]:
    """Redis' own times (ms) in the ids of the job's `output` events."""
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(keys.job_events(job_id)))
    return [int(entry_id.split(b"-")[0]) / 1000 for entry_id, fields in entries if fields.get(b"type") == b"output"]


def _expect(sample: Calls, n: int, what: str) -> Calls:
    if sample.statuses != {200: n}:
        raise RuntimeError(f"{what}: expected {n} answers 200, got {sample.statuses}")
    return sample


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    names = {key for row in rows for key in row}
    return {key: round(sum(row.get(key, 0.0) for row in rows) / len(rows), 1) for key in sorted(names)}


def _per_call(rows: list[dict[str, float]], rate: float) -> dict[str, float]:
    """CPU milliseconds each process spent per call (percent of a core / calls per s)."""
    return {
        key.removesuffix("_cpu_pct_of_core"): round(pct * 10 / rate, 2)
        for key, pct in _mean(rows).items()
        if key.endswith("_cpu_pct_of_core")
    }
