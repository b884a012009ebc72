"""SSE fan-out: event written to a job's Redis stream → event received by an SSE client.

N clients (500; 50 in smoke) each follow `GET /api/jobs/{id}/events` of their own queued
job on one gateway process (`python -m cli serve`, no worker). This process then writes
`log` events straight into the jobs' streams, one per job per round in a shuffled order,
paced evenly (N events per `ROUND_S`), each carrying its write time; clients note the
receive time. Baseline: the same, with each client reading its job's stream directly from
Redis with XREAD BLOCK on a connection of its own — so the ratio shows what the gateway
adds. Finally a `done` event ends every stream.

Clients are minimal asyncio HTTP readers (see `_rawhttp`), so the client side costs about
what a redis-py XREAD loop costs and the difference is the gateway's.

Goal: p99 ≤ 50 ms.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from redis.asyncio import Redis

from queues.events import add_event_setting_ttl, read_events
from queues.redis import connect
from queues.submit import Submission, submit_job
from tests.bench._common import (
    AUTH,
    BENCH_REDIS_URL,
    OWNER,
    cpu_seconds,
    flush_redis,
    gateway,
    ms,
    percentile,
    raise_nofile,
)
from tests.bench._rawhttp import read_head, request_bytes, sse_events
from tests.bench.result import BenchResult, better_ratio

GOAL_P99_MS = 50.0
EVENT_TTL_S = 600
_stamp = msgspec.json.Decoder(dict[str, float])

Sink = Callable[[str, str, float], None]  # (job id, event type, latency in s or 0.0)
Follower = Callable[[str, Sink], Coroutine[Any, Any, None]]


def run(*, smoke: bool) -> BenchResult:
    clients, rounds, round_s = (50, 2, 0.5) if smoke else (500, 8, 1.0)
    raise_nofile(4 * clients + 256)
    flush_redis()
    try:
        # Every follower here uses the one benchmark key: the per-key cap on open streams
        # (MPC_MAX_STREAMS_PER_KEY, 32) is set above them, as the fan-out is what is measured.
        with gateway(MPC_MAX_STREAMS_PER_KEY=str(clients + 16)) as (base, proc):
            result = asyncio.run(_run(base, proc.pid, clients, rounds, round_s))
            proc.check_alive()
            return result
    finally:
        flush_redis()


async def _run(base: str, gateway_pid: int, clients: int, rounds: int, round_s: float) -> BenchResult:
    writer = connect(BENCH_REDIS_URL)
    direct = connect(BENCH_REDIS_URL, socket_timeout=None)
    host, port = base.removeprefix("http://").split(":")
    try:

        async def follow_redis(job_id: str, sink: Sink) -> None:
            after = "0-0"
            while True:
                events = await read_events(direct, job_id, after, block_ms=15_000)
                received = time.time()
                for event in events:
                    sink(job_id, event.type, received - float(event.data["t"]) if event.type == "log" else 0.0)
                    if event.is_terminal:
                        return
                if events:
                    after = events[-1].id

        async def follow_sse(job_id: str, sink: Sink) -> None:
            reader, stream = await asyncio.open_connection(host, int(port))
            try:
                stream.write(request_bytes("GET", f"/api/jobs/{job_id}/events", AUTH))
                head = await read_head(reader)
                if head.status != 200:
                    raise RuntimeError(f"GET /api/jobs/{job_id}/events answered {head.status}")
                async for event in sse_events(reader, head):
                    received = time.time()
                    latency = received - _stamp.decode(event.data)["t"] if event.event == "log" else 0.0
                    sink(job_id, event.event, latency)
                    if event.event in {"done", "error"}:
                        return
            finally:
                stream.close()

        baseline = await _phase(writer, follow_redis, clients, rounds, round_s)
        before = cpu_seconds(gateway_pid)
        started = time.perf_counter()
        candidate = await _phase(writer, follow_sse, clients, rounds, round_s)
        gateway_cpu_pct = (cpu_seconds(gateway_pid) - before) / (time.perf_counter() - started) * 100
    finally:
        await writer.aclose()
        await direct.aclose()

    base_p99 = ms(percentile(baseline["latencies"], 99))
    cand_p99 = ms(percentile(candidate["latencies"], 99))
    extra: dict[str, Any] = {
        "clients": clients,
        "events_per_client": rounds,
        "write_rate_per_s_target": round(clients / round_s),
        "p50_ms": {
            "redis_xread": ms(percentile(baseline["latencies"], 50)),
            "gateway_sse": ms(percentile(candidate["latencies"], 50)),
        },
        "max_ms": {"redis_xread": ms(max(baseline["latencies"])), "gateway_sse": ms(max(candidate["latencies"]))},
        "lost_events": {"redis_xread": baseline["lost"], "gateway_sse": candidate["lost"]},
        "write_rate_per_s_achieved": {
            "redis_xread": baseline["write_rate"],
            "gateway_sse": candidate["write_rate"],
        },
        "gateway_cpu_pct_of_core_during_phase": round(gateway_cpu_pct, 1),
        "goal_p99_le_50ms": cand_p99 <= GOAL_P99_MS,
    }
    return BenchResult(
        scenario="sse_fanout",
        baseline=base_p99,
        candidate=cand_p99,
        unit="ms_p99",
        ratio=better_ratio(base_p99, cand_p99, higher_is_better=False),
        extra=extra,
    )


async def _submit_jobs(redis: Redis, n: int) -> list[str]:
    ids: list[str] = []
    for i in range(n):
        submission = Submission(
            task="chat_general",
            queue="interactive",
            input_json=msgspec.json.encode({"i": i}),
            params_json=b"{}",
            owner=OWNER,
        )
        record, _ = await submit_job(redis, submission)
        ids.append(record.id)
    return ids


async def _phase(redis: Redis, follow: Follower, clients: int, rounds: int, round_s: float) -> dict[str, Any]:
    job_ids = await _submit_jobs(redis, clients)
    latencies: list[float] = []
    ready: set[str] = set()
    all_ready = asyncio.Event()
    expected = clients * rounds
    all_received = asyncio.Event()

    def sink(job_id: str, event_type: str, latency: float) -> None:
        if event_type == "status":
            ready.add(job_id)
            if len(ready) == clients:
                all_ready.set()
        elif event_type == "log":
            latencies.append(latency)
            if len(latencies) == expected:
                all_received.set()

    blocked_before = await _blocked_clients(redis)
    tasks = [asyncio.create_task(follow(job_id, sink)) for job_id in job_ids]
    try:
        await _wait(all_ready, 60, tasks, f"only {len(ready)} of {clients} clients connected")
        # Each client has read its `queued` event; write only once every client (or the gateway
        # on its behalf) is blocked in XREAD again, else the ramp-up is measured, not steady state.
        await _wait_blocked(redis, blocked_before + clients, 30)
        write_rate = await _write_events(redis, job_ids, rounds, round_s)
        await _wait(all_received, 15, tasks, None)
        await _end_streams(redis, job_ids)
        _, pending = await asyncio.wait(tasks, timeout=15)
        if pending:
            raise RuntimeError(f"{len(pending)} clients did not see their stream end")
        for task in tasks:
            task.result()  # surface a client's failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies, "lost": expected - len(latencies), "write_rate": write_rate}


async def _wait(event: asyncio.Event, seconds: float, tasks: list[asyncio.Task[None]], failure: str | None) -> None:
    """Wait for `event`; fail early if a client task died, and on timeout when `failure` is set."""
    deadline = time.monotonic() + seconds
    while not event.is_set() and time.monotonic() < deadline:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError("a client failed") from task.exception()
        try:
            await asyncio.wait_for(event.wait(), 0.1)
        except TimeoutError:
            continue
    if not event.is_set() and failure is not None:
        raise RuntimeError(failure)


async def _blocked_clients(redis: Redis) -> int:
    info = await redis.info("clients")
    return int(info["blocked_clients"])


async def _wait_blocked(redis: Redis, wanted: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await _blocked_clients(redis) < wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {wanted} Redis clients blocked in XREAD after {seconds} s")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)


async def _write_events(redis: Redis, job_ids: list[str], rounds: int, round_s: float) -> float:
    """One `log` event per job per round, paced evenly; returns the achieved events/s."""
    interval = round_s / len(job_ids)
    started = time.perf_counter()
    written = 0
    for _ in range(rounds):
        order = list(job_ids)
        random.shuffle(order)
        for job_id in order:
            delay = started + written * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with redis.pipeline(transaction=False) as pipe:
                add_event_setting_ttl(pipe, job_id, "log", {"t": time.time()}, ttl_s=EVENT_TTL_S)
                await pipe.execute()
            written += 1
    return round(written / (time.perf_counter() - started), 1)


async def _end_streams(redis: Redis, job_ids: list[str]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            add_event_setting_ttl(pipe, job_id, "done", {"status": "canceled", "t": time.time()}, ttl_s=EVENT_TTL_S)
        await pipe.execute()
