"""Fair share: one key floods the media queue, then another sends a few jobs. How long do the
few wait, compared with the same jobs on an idle queue?

Pool: one real media worker (`python -m cli worker --queue media`) with
`MPC_WORKER_MAX_JOBS=4`, running `tests.bench._fair_handlers.hold` (each job holds its slot
`HOLD_S`, like a provider call of fixed length). Four slots, fewer than the quiet key's ten
jobs: on an idle queue those already wait for each other (p50 about one hold), so the
baseline is the quiet key's own queueing and not only the pickup's milliseconds, which no
scheduler could keep under a flood without preempting running jobs.

Each round, on the same worker:
- idle (baseline): key B submits 10 jobs to the idle queue;
- flood (candidate): key A submits 1,000 jobs (`submit_job`, 50 at a time), then, after a
  random 0 to `HOLD_S` (so B does not always arrive at the same point of A's holds), B submits
  10 jobs. Once B's jobs have started, A's are canceled and the queue drains before the
  next round.
A job's wait = its record's `started_at` - `created_at`. Jobs are submitted with
`queues.submit.submit_job` (what `POST /api/jobs` calls), owners the digests of two keys.

Goal: B's p50 wait under the flood ≤ 2x its p50 wait on the idle queue (`ratio` ≥ 0.5, as
`ratio` is idle / flood so that above 1 is better). Under first in, first out B's jobs
would start after all of A's: 1,000 * `HOLD_S` / 4, about 50 s.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from queues import keys, store
from queues.classes import QUEUE_CLASS_LIMITS
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from queues.settings import hash_api_key
from queues.submit import Submission, submit_job
from tests.bench._common import BENCH_REDIS_URL, PYTHON, bench_env, child, flush_redis, ms, percentile
from tests.bench.result import BenchResult, better_ratio

QUEUE = "media"
SLOTS = 4
QUIET_JOBS = 10
GOAL_SLOWDOWN = 2.0
SUBMIT_CONCURRENCY = 50
FLOODER = hash_api_key("bench-flooding-key")
QUIET = hash_api_key("bench-quiet-key")


def run(*, smoke: bool) -> BenchResult:
    flush_redis()
    try:
        return asyncio.run(_run(smoke))
    finally:
        flush_redis()


async def _run(smoke: bool) -> BenchResult:
    rounds, flood, hold_s = (1, 40, 0.02) if smoke else (5, 1000, 0.2)
    env = bench_env(MPC_WORKER_HANDLERS="tests.bench._fair_handlers", MPC_WORKER_MAX_JOBS=str(SLOTS))
    redis = connect(BENCH_REDIS_URL)
    idle: list[float] = []
    flooded: list[float] = []
    per_round: list[dict[str, Any]] = []
    try:
        with child([PYTHON, "-m", "cli", "worker", "--queue", QUEUE], env) as worker:
            await _wait_ready(redis, worker.check_alive)
            await _quiet_waits(redis, hold_s)  # warm-up: the worker subscribed and its code paths run once
            for _ in range(rounds):
                quiet_idle = await _quiet_waits(redis, hold_s)
                flood_ids = await _submit(redis, FLOODER, flood, hold_s)
                await asyncio.sleep(random.uniform(0, hold_s))
                quiet_flood, last_start = await _quiet_waits_and_last_start(redis, hold_s)
                flood_started = await _started_before(redis, flood_ids, last_start)
                await _cancel_and_drain(redis, flood_ids)
                worker.check_alive()
                idle += quiet_idle
                flooded += quiet_flood
                per_round.append(
                    {
                        "idle_p50_ms": ms(percentile(quiet_idle, 50)),
                        "flood_p50_ms": ms(percentile(quiet_flood, 50)),
                        "flood_jobs_started_before_quiet_last": flood_started,
                    }
                )
    finally:
        await redis.aclose()
    baseline, candidate = ms(percentile(idle, 50)), ms(percentile(flooded, 50))
    slowdown = round(candidate / baseline, 3)
    extra: dict[str, Any] = {
        "rounds": per_round,
        "slowdown_x": slowdown,
        "median_round_slowdown_x": round(statistics.median(r["flood_p50_ms"] / r["idle_p50_ms"] for r in per_round), 3),
        "p90_ms": {"idle": ms(percentile(idle, 90)), "flood": ms(percentile(flooded, 90))},
        "conditions": {
            "worker_slots": SLOTS,
            "hold_s": hold_s,
            "flood_jobs": flood,
            "quiet_jobs": QUIET_JOBS,
            "fifo_would_wait_s": round(flood * hold_s / SLOTS, 1),
        },
        "goal_slowdown_le_2x": slowdown <= GOAL_SLOWDOWN,
    }
    return BenchResult(
        scenario="fair_share",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p50_wait",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


async def _wait_ready(redis: Redis, check_alive: Any, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await redis.zcard(keys.live_workers(QUEUE)):
            return
        check_alive()
        await asyncio.sleep(0.05)
    raise RuntimeError("the media worker did not announce itself")


async def _submit(redis: Redis, owner: str, n: int, hold_s: float) -> list[str]:
    submission = Submission(
        task="tts",
        queue=QUEUE,
        input_json=msgspec.json.encode({"hold_s": hold_s}),
        params_json=b"{}",
        owner=owner,
    )
    ids: list[str] = []
    for start in range(0, n, SUBMIT_CONCURRENCY):
        batch = range(start, min(n, start + SUBMIT_CONCURRENCY))
        ids += [record.id for record, _ in await asyncio.gather(*(submit_job(redis, submission) for _ in batch))]
    return ids


async def _quiet_waits(redis: Redis, hold_s: float) -> list[float]:
    waits, _ = await _quiet_waits_and_last_start(redis, hold_s)
    return waits


async def _quiet_waits_and_last_start(redis: Redis, hold_s: float) -> tuple[list[float], float]:
    """Key B's jobs: submitted, waited for until every one has ended; their waits."""
    ids = await _submit(redis, QUIET, QUIET_JOBS, hold_s)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = [await store.get_job(redis, job_id) for job_id in ids]
        if all(job is not None and job.is_final for job in jobs):
            waits, starts = [], []
            for job in jobs:
                if job is None or job.status != "succeeded" or job.started_at is None:
                    raise RuntimeError(f"a quiet job did not run as expected: {job}")
                waits.append(job.started_at - job.created_at)
                starts.append(job.started_at)
            return waits, max(starts)
        await asyncio.sleep(0.02)
    raise RuntimeError("the quiet key's jobs did not all end within 60 s")


async def _started_before(redis: Redis, ids: list[str], instant: float) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(keys.job(job_id), "started_at")
        started = await pipe.execute()
    return sum(1 for value in started if value is not None and float(value) <= instant)


async def _cancel_and_drain(redis: Redis, ids: list[str]) -> None:
    """Cancel the flood (queued jobs end at once, running ones are stopped) and wait for the
    class's queue to empty, so the next round starts on an idle queue."""
    for start in range(0, len(ids), 100):
        await asyncio.gather(
            *(store.request_cancel(redis, job_id, retention=DEFAULT_RETENTION) for job_id in ids[start : start + 100])
        )
    deadline = time.monotonic() + 30
    while await redis.zcard(QUEUE_CLASS_LIMITS[QUEUE].queue_name):
        if time.monotonic() > deadline:
            raise RuntimeError("the media queue did not drain after the flood was canceled")
        await asyncio.sleep(0.02)
