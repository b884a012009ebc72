"""Chat load for the benchmarks: the same chat request sent to the gateway and straight to
LiteLLM, closed-loop over keep-alive connections (the minimal client of `_rawhttp`).

The direct request is the one an MPC-API worker sends LiteLLM for the same chat
(`workers.chat_handler._body`: `model` = the catalog provider_id, `num_retries: 0`, and for a
stream `stream_options.include_usage`), so the two paths differ only by MPC-API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgspec
import redis

from tests.bench._common import AUTH, BENCH_REDIS_URL, CLK_TCK, ms, percentile
from tests.bench._load import CpuWatch
from tests.bench._rawhttp import Head, read_head, read_response, request_bytes, sse_events
from tests.support.litellm import LiteLLMProxy

JSON = {"Content-Type": "application/json"}
# A run in which no answer has completed for this long has stalled (e.g. another benchmark
# flushed the Redis db under it): fail it rather than wait for the gateway's 330 s timeout.
STALL_TIMEOUT_S = 60.0
_chunk = msgspec.json.Decoder(dict[str, Any])


class ChainCpu(CpuWatch):
    """`CpuWatch`, plus the whole machine's busy CPU over the same time and the part of it
    that went to processes outside the benchmark: on a shared machine other work skews
    every figure, and this says by how much. Also the PUBLISH rate of the whole Redis
    server: other work's job submissions on the same server (ours publish one per job);
    wake-up channels are named by database, so they no longer wake this benchmark's
    workers, but they still load Redis."""

    _machine_start = (0.0, 0.0, 0)

    def start(self) -> None:
        self._machine_start = (_machine_busy_s(), time.perf_counter(), _redis_publishes())
        super().start()

    def stop(self) -> dict[str, float]:
        out = super().stop()
        busy, started, publishes = self._machine_start
        wall = time.perf_counter() - started
        machine = (_machine_busy_s() - busy) / wall * 100
        ours = sum(out.values())
        out["machine_cpu_pct_of_core"] = round(machine, 1)
        out["other_processes_cpu_pct_of_core"] = round(max(0.0, machine - ours), 1)
        out["redis_server_publish_per_s"] = round((_redis_publishes() - publishes) / wall, 1)
        return out


def _redis_publishes() -> int:
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        stats = cast(dict[str, Any], client.info("commandstats"))
    finally:
        client.close()
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def _machine_busy_s() -> float:
    """CPU seconds all cores spent on work since boot (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / CLK_TCK


def chat_body(model: str, text: str = "Say hello", *, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


def gateway_request(body: Mapping[str, Any]) -> bytes:
    return request_bytes("POST", "/api/chat/completions", {**AUTH, **JSON}, msgspec.json.encode(body))


def litellm_request(proxy: LiteLLMProxy, provider_id: str, body: Mapping[str, Any]) -> bytes:
    direct = {**body, "model": provider_id, "num_retries": 0}
    if direct.get("stream"):
        direct["stream_options"] = {"include_usage": True}
    return request_bytes("POST", "/v1/chat/completions", {**proxy.auth, **JSON}, msgspec.json.encode(direct))


@dataclass
class Sample:
    """What one closed-loop run saw."""

    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)  # X-MPC-Model of the answers, if any
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def ok(self, n: int) -> bool:
        return self.statuses.get(200, 0) == n

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.count,
            "req_per_s": round(self.rate, 1),
            "p50_ms": ms(percentile(self.latencies, 50)),
            "p95_ms": ms(percentile(self.latencies, 95)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def closed_loop(
    base: str, request: bytes, n: int, concurrency: int, *, stall_s: float = STALL_TIMEOUT_S
) -> Sample:
    """`n` requests over `concurrency` keep-alive connections, each sending its next request
    when the previous answer has arrived."""
    host, port = base.removeprefix("http://").split(":")
    sample = Sample()

    async def connection(share: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(share):
                started = time.perf_counter()
                writer.write(request)
                head, _ = await read_response(reader)
                sample.latencies.append(time.perf_counter() - started)
                _count(sample, head)
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    connections = [connection(share) for share in _split(n, concurrency) if share]
    await _gather(base, connections, stall_s, lambda: sample.count)
    sample.elapsed = time.perf_counter() - started
    return sample


OnAnswer = Callable[[int, Head, bytes, float], None]  # (index, head, body, latency in s)


async def sequential(
    base: str, request: bytes, n: int, on_answer: OnAnswer | None = None, *, stall_s: float = STALL_TIMEOUT_S
) -> Sample:
    """`n` requests one after another on one keep-alive connection; `on_answer` runs after
    each answer, before the next request is sent (so its time is not counted)."""
    host, port = base.removeprefix("http://").split(":")
    sample = Sample()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for index in range(n):
                started = time.perf_counter()
                writer.write(request)
                head, body = await read_response(reader)
                latency = time.perf_counter() - started
                sample.latencies.append(latency)
                sample.elapsed += latency
                _count(sample, head)
                if on_answer is not None:
                    on_answer(index, head, body, latency)
        finally:
            writer.close()
            await writer.wait_closed()

    await _gather(base, [connection()], stall_s, lambda: sample.count)
    return sample


async def _gather(
    base: str, connections: list[Coroutine[Any, Any, None]], stall_s: float, progress: Callable[[], int]
) -> None:
    """Run the connections; fail if `progress()` (answers so far) stands still for `stall_s`."""
    tasks = [asyncio.ensure_future(c) for c in connections]
    last, last_change = progress(), time.monotonic()
    try:
        while True:
            done, pending = await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a connection's failure ends the run
            if not pending:
                return
            now = progress()
            if now != last:
                last, last_change = now, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                raise RuntimeError(f"load on {base} stalled: no answer for {stall_s:.0f} s after {now}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _count(sample: Sample, head: Head) -> None:
    sample.statuses[head.status] = sample.statuses.get(head.status, 0) + 1
    model = head.headers.get("x-mpc-model")
    if model is not None:
        sample.models[model] = sample.models.get(model, 0) + 1


@dataclass(frozen=True, slots=True)
class Trace:
    """One stream's wall-clock marks, to line up with the job record and the emulator log."""

    index: int  # the request's number (what `request_for` was called with)
    sent: float  # time.time() when the request was written
    first: float  # time.time() when the first content token arrived
    job_id: str | None  # X-MPC-Job-Id, when the gateway answered


@dataclass
class StreamSample:
    ttfts: list[float] = field(default_factory=list)  # request sent → first content token (s)
    totals: list[float] = field(default_factory=list)  # request sent → end of stream (s)
    traces: list[Trace] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0


async def stream_loop(
    base: str,
    request_for: Callable[[int], bytes],
    n: int,
    concurrency: int,
    *,
    stagger_s: float = 0.0,
    stall_s: float = STALL_TIMEOUT_S,
) -> StreamSample:
    """`n` streamed chats over `concurrency` keep-alive connections; each stream is read to
    its end and must finish with `data: [DONE]`. Connection i starts `i * stagger_s` late,
    so equal-length streams do not all start in lock-step bursts (users do not either).
    `request_for(k)` gives the k-th request (0 ≤ k < n)."""
    host, port = base.removeprefix("http://").split(":")
    sample = StreamSample()
    numbers = iter(range(n))

    async def connection(index: int, share: int) -> None:
        await asyncio.sleep(index * stagger_s)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(share):
                index = next(numbers)
                request = request_for(index)
                sent = time.time()
                started = time.perf_counter()
                writer.write(request)
                head = await read_head(reader)
                if head.status != 200:
                    body = await reader.readexactly(int(head.headers.get("content-length", "0")))
                    sample.failures.append(f"HTTP {head.status}: {body[:200]!r}")
                    continue
                first: float | None = None
                first_wall = 0.0
                done = False
                async for event in sse_events(reader, head):
                    if event.data == "[DONE]":
                        done = True
                    elif first is None and _has_content(event.data):
                        first, first_wall = time.perf_counter(), time.time()
                if first is None or not done:
                    sample.failures.append("stream without content" if first is None else "stream without [DONE]")
                    continue
                sample.ttfts.append(first - started)
                sample.totals.append(time.perf_counter() - started)
                sample.traces.append(Trace(index, sent, first_wall, head.headers.get("x-mpc-job-id")))
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    shares = _split(n, concurrency)
    connections = [connection(i, share) for i, share in enumerate(shares) if share]
    await _gather(base, connections, stall_s, lambda: len(sample.ttfts) + len(sample.failures))
    sample.elapsed = time.perf_counter() - started
    return sample


def _has_content(data: str) -> bool:
    try:
        chunk = _chunk.decode(data)
    except msgspec.DecodeError:
        return False
    choices: Sequence[Any] = chunk.get("choices") or []
    return bool(choices) and bool((choices[0].get("delta") or {}).get("content"))
