"""Webhooks of a thousand job ends: how soon after its end a job's webhook arrives, and that
none is lost when the receiver is down for a while.

The chain runs as processes (`_chat_stack`, no LiteLLM: the job is the test handlers' echo,
`chat_general` in `tests/support/handlers.py`, which ends within milliseconds, so the webhook
is all that is measured): one interactive worker, Redis, the gateway, and a receiver of our
own in its own process (`_webhook_receiver`: answers 204 at once, logs the arrival time,
headers and body of every request). The gateway and the worker allow loopback
(`MPC_OUTBOUND_ALLOW`); every job asks for a webhook to the receiver (the three end events).

1. **Latency.** `JOBS` jobs submitted at `RATE` per second (`POST /api/jobs`, 16 keep-alive
   connections). Latency = the webhook's arrival at the receiver minus the job's `finished_at`
   (the same machine's clock). Baseline, in the same phase: the same jobs' ends as a client
   without webhooks sees them, polling `GET /api/jobs/{id}` once a second on a clock of its
   own (each job's first poll 0..1 s after its submit, seeded): the delay from `finished_at`
   to the first answer showing the end. One job in `BASELINE_EVERY` is polled (50 of 1,000),
   so the polling adds little load to the phase it measures.
2. **Outage.** The receiver is stopped (connections refused) for `OUTAGE_S`; `JOBS` more jobs
   are submitted at `RATE` per second at its start; then the receiver starts again on the
   same port. Every job's end must arrive (retries at 5 s, then 30 s later: the last is
   delivered up to ~35 s after its job's end), and a job's duplicate deliveries (at least
   once) must carry the same `webhook-id`.

Every delivery's signature is checked with the reference Standard Webhooks library and the
key's secret (`GET /api/webhooks/secret`).

Goals: p99 latency ≤ 1 s; after the outage all delivered, none lost, duplicates only with
the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis
from standardwebhooks import Webhook, WebhookVerificationError

from queues import keys, webhooks
from sandbox.processes import free_port
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import (
    AUTH,
    BENCH_REDIS_URL,
    PYTHON,
    Child,
    bench_env,
    child,
    cpu_seconds,
    flush_redis,
    ms,
    percentile,
    raise_nofile,
)
from tests.bench.result import BenchResult, better_ratio

JOBS = 1000
RATE = 100.0  # job submissions per second
OUTAGE_S = 30.0
BASELINE_EVERY = 20
POLL_INTERVAL_S = 1.0
SUBMIT_CONNECTIONS = 16
LOOPBACK_ALLOW = "localhost,127.0.0.0/8,::1"
GOAL_P99_S = 1.0
FINAL = {"succeeded", "failed", "canceled"}


def run(*, smoke: bool) -> BenchResult:
    jobs, outage_s = (20, 3.0) if smoke else (JOBS, OUTAGE_S)
    raise_nofile(4096)
    flush_redis()
    env = {"MPC_OUTBOUND_ALLOW": LOOPBACK_ALLOW}
    try:
        with (
            chat_stack(workers=1, upstream="emulator", worker_handlers="tests.support.handlers", env=env) as stack,
            tempfile.TemporaryDirectory(prefix="mpc-bench-hooks-") as tmp,
        ):
            return _run(stack, Path(tmp) / "arrivals.jsonl", jobs, outage_s)
    finally:
        flush_redis()


@contextmanager
def _receiver(port: int, log: Path) -> Iterator[Child]:
    args = [PYTHON, "-m", "tests.bench._webhook_receiver", str(port), str(log)]
    with child(args, bench_env()) as proc:
        _wait_listening(proc, port)
        yield proc


def _wait_listening(proc: Child, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        try:
            with httpx.Client(timeout=1) as client:
                client.post(f"http://127.0.0.1:{port}/ready", content=b"")
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise RuntimeError(f"the webhook receiver did not listen within {timeout} s:\n{proc.stderr()}")


def _run(stack: ChatStack, log: Path, jobs: int, outage_s: float) -> BenchResult:
    load_at_start = round(os.getloadavg()[0], 2)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    worker = stack.worker_pids[0]
    secret = httpx.get(f"{stack.gateway_url}/api/webhooks/secret", headers=AUTH, timeout=10).json()["secret"]
    with _receiver(port, log):
        asyncio.run(_submit(stack.gateway_url, url, 5, RATE, baseline_every=0))  # connections, first calls
        _wait_arrivals(log, 5, timeout=30)
        log.write_bytes(b"")
        cpu_before = cpu_seconds(worker)
        started = time.time()
        steady, polled = asyncio.run(_submit(stack.gateway_url, url, jobs, RATE, baseline_every=BASELINE_EVERY))
        _wait_arrivals(log, jobs, timeout=jobs / RATE + 60)
        steady_s = time.time() - started
        worker_cpu = cpu_seconds(worker) - cpu_before
    steady_arrivals = _arrivals(log)

    # The outage: the receiver process is gone, the port refuses connections.
    down_at = time.time()
    outage_ids, _ = asyncio.run(_submit(stack.gateway_url, url, jobs, RATE, baseline_every=0))
    time.sleep(max(0.0, down_at + outage_s - time.time()))
    log.write_bytes(b"")
    with _receiver(port, log):
        back_at = time.time()
        _wait_arrivals(log, jobs, timeout=outage_s + 120, ids=set(outage_ids))
        time.sleep(2.0)  # time for a late duplicate to show
        outage_arrivals = _arrivals(log)
    stack.check_alive()

    ends = _finished_at(steady + outage_ids)
    latencies = _latencies(steady_arrivals, steady, ends)
    split = _split(steady_arrivals, steady, ends)
    baseline_delays = [seen - end for job_id, seen in polled.items() if (end := ends.get(job_id)) is not None]
    outage = _outage_report(outage_arrivals, outage_ids, ends, back_at)
    bad_signatures = _bad_signatures(secret, steady_arrivals + outage_arrivals)

    p99, baseline_p99 = percentile(latencies, 99), percentile(baseline_delays, 99)
    delivered_all = len(latencies) == jobs
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "jobs_per_phase": jobs,
        "submit_rate_per_s": RATE,
        "latency_ms": _summary(latencies),
        # Where the time goes: the job's end → the worker starting the POST (pub/sub wake-up,
        # claim, reading the delivery, the receiver's line, the body, the secrets), and the
        # POST → its arrival at the receiver.
        "split_ms": split,
        "steady_delivered": len(latencies),
        "steady_duplicates": len(steady_arrivals) - len({a["id"] for a in steady_arrivals}),
        "steady_phase_s": round(steady_s, 1),
        "worker_cpu_pct_of_core_steady": round(worker_cpu / steady_s * 100, 1),
        "baseline_polled_jobs": len(baseline_delays),
        "baseline_poll_interval_s": POLL_INTERVAL_S,
        "baseline_delay_ms": _summary(baseline_delays),
        "outage_s": outage_s,
        "outage": outage,
        "bad_signatures": bad_signatures,
        "goal_p99_le_1_s": delivered_all and p99 <= GOAL_P99_S,
        "goal_outage_all_delivered_no_loss_same_id_duplicates": outage["lost"] == 0
        and outage["jobs_with_two_ids"] == 0
        and outage["delivered"] == jobs,
    }
    return BenchResult(
        scenario="webhook_delivery",
        baseline=ms(baseline_p99),
        candidate=ms(p99),
        unit="ms_p99_end_to_client",
        ratio=better_ratio(baseline_p99, p99, higher_is_better=False),
        extra=extra,
    )


async def _submit(
    base: str, hook_url: str, jobs: int, rate: float, *, baseline_every: int
) -> tuple[list[str], dict[str, float]]:
    """`jobs` echo jobs with a webhook, the i-th sent at i / rate s; every `baseline_every`-th
    also polled once a second until it shows its end. Their ids, and when each polled job was
    seen ended (time.time())."""
    ids: list[str] = [""] * jobs
    seen: dict[str, float] = {}
    phase = random.Random(15)
    limits = httpx.Limits(max_connections=SUBMIT_CONNECTIONS + 64)
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30, limits=limits) as client:
        gate = asyncio.Semaphore(SUBMIT_CONNECTIONS)
        start = time.perf_counter()

        async def poll(job_id: str, first_s: float) -> None:
            await asyncio.sleep(first_s)
            while True:
                answer = (await client.get(f"/api/jobs/{job_id}")).json()
                if answer["status"] in FINAL:
                    seen[job_id] = time.time()
                    return
                await asyncio.sleep(POLL_INTERVAL_S)

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
            body = {
                "task": "chat_general",
                "input": {"messages": [{"role": "user", "content": f"job {index} ended"}]},
                "webhook": {"url": hook_url},
            }
            async with gate:
                response = await client.post("/api/jobs", json=body)
            if response.status_code != 202:
                raise RuntimeError(f"submit {index}: {response.status_code} {response.text[:300]}")
            ids[index] = response.json()["id"]
            if baseline_every and index % baseline_every == 0:
                await poll(ids[index], phase.random() * POLL_INTERVAL_S)

        await asyncio.gather(*(one(i) for i in range(jobs)))
    return ids, seen


def _arrivals(log: Path) -> list[dict[str, Any]]:
    """Every webhook the receiver logged, with its job id (`job`) and event type."""
    out = []
    for line in log.read_bytes().splitlines():
        entry = msgspec.json.decode(line)
        if entry["id"] is None:  # the readiness probe
            continue
        event = msgspec.json.decode(entry["body"])
        entry.update(job=event["data"]["id"], type=event["type"])
        out.append(entry)
    return out


def _wait_arrivals(log: Path, count: int, *, timeout: float, ids: set[str] | None = None) -> None:
    """Until the receiver has logged webhooks of `count` distinct jobs (of `ids`, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = {a["job"] for a in _arrivals(log)}
        if len(jobs & ids if ids is not None else jobs) >= count:
            return
        time.sleep(0.5)


def _finished_at(job_ids: list[str]) -> dict[str, float | None]:
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "finished_at")
        found: list[bytes | None] = pipe.execute()
    finally:
        client.close()
    return {job_id: float(f) if f is not None else None for job_id, f in zip(job_ids, found, strict=True)}


def _latencies(arrivals: list[dict[str, Any]], job_ids: list[str], ends: dict[str, float | None]) -> list[float]:
    """Per job: its first webhook's arrival minus its end."""
    first: dict[str, float] = {}
    for arrival in arrivals:
        first[arrival["job"]] = min(arrival["at"], first.get(arrival["job"], arrival["at"]))
    return [first[j] - end for j in job_ids if j in first and (end := ends.get(j)) is not None]


def _split(arrivals: list[dict[str, Any]], job_ids: list[str], ends: dict[str, float | None]) -> dict[str, Any]:
    first: dict[str, float] = {}
    for arrival in arrivals:
        first[arrival["job"]] = min(arrival["at"], first.get(arrival["job"], arrival["at"]))
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.lindex(keys.webhook_attempts(webhooks.end_delivery_id(job_id)), 0)
        found: list[bytes | None] = pipe.execute()
    finally:
        client.close()
    before_post, post = [], []
    for job_id, raw in zip(job_ids, found, strict=True):
        end, arrived = ends.get(job_id), first.get(job_id)
        if raw is None or end is None or arrived is None:
            continue
        started = float(msgspec.json.decode(raw)["at"])
        before_post.append(started - end)
        post.append(arrived - started)
    return {"end_to_post": _summary(before_post), "post_to_arrival": _summary(post)}


def _outage_report(
    arrivals: list[dict[str, Any]], job_ids: list[str], ends: dict[str, float | None], back_at: float
) -> dict[str, Any]:
    ids_of: dict[str, set[str]] = {}
    first: dict[str, float] = {}
    for arrival in arrivals:
        ids_of.setdefault(arrival["job"], set()).add(arrival["id"])
        first[arrival["job"]] = min(arrival["at"], first.get(arrival["job"], arrival["at"]))
    delivered = [j for j in job_ids if j in ids_of]
    after_end = [first[j] - end for j in delivered if (end := ends.get(j)) is not None]
    return {
        "delivered": len(delivered),
        "lost": len(job_ids) - len(delivered),
        "arrivals": len(arrivals),
        "duplicates": len(arrivals) - len(first),
        "jobs_with_two_ids": sum(1 for found in ids_of.values() if len(found) > 1),
        "last_delivered_s_after_receiver_back": round(max(first.values(), default=back_at) - back_at, 1),
        "delivered_s_after_job_end": _summary(after_end, scale=1.0),
        "event_types": sorted({a["type"] for a in arrivals}),
    }


def _bad_signatures(secret: str, arrivals: list[dict[str, Any]]) -> int:
    hook = Webhook(secret)
    bad = 0
    for arrival in arrivals:
        headers = {k: arrival[k] for k in ("id", "timestamp", "signature")}
        try:
            hook.verify(arrival["body"], {f"webhook-{k}": v for k, v in headers.items()})
        except WebhookVerificationError:
            bad += 1
    return bad


def _summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * scale, 3),
        "p90": round(percentile(values, 90) * scale, 3),
        "p99": round(percentile(values, 99) * scale, 3),
        "max": round(max(values) * scale, 3),
    }
