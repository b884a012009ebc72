"""A thousand videos in flight on one media worker: what waiting on providers costs it.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
ONE media worker → Redis → gateway, artifacts in a local directory. `VIDEOS` jobs are
submitted as fast as the gateway takes them (`POST /api/jobs`, task `video_generate`, model
pinned to Gemini Veo 3.1 fast, 4 s at 1280x720); the emulator makes each video take
`GENERATION_S` from its create (its per-model `video_seconds`). Every job has the same prompt
with `[emulate: tag=…]`, so the emulator renders the MP4 once and serves it to every job
(its CPU is not the subject) and lists the videos by tag: `GET /_emulator/videos` counts the
creates, as the request log (2,000 entries) cannot.

The worker creates each video in its handler (16 slots, seconds each), hands it to its
poller and frees the slot; the poller waits on all of them (2 s, then 1.5 times longer up to 30 s
between polls), downloads each finished video through LiteLLM into the store and ffprobes
it. Measured over the run (first submit → last job finished):
- the worker's CPU, its own and with its children (the ffprobe runs), in % of one core;
- its peak resident memory (`VmHWM`);
- LiteLLM's CPU over the same window, and the worker's CPU while idle (before the submits);
- polls per job (the emulator's count of status polls of each video), creates per job.

Baseline: no runnable design holds a worker slot per video at 1,000 in flight (that would
be 1,000 slots, or 16 slots and a queue 60 videos deep), so the comparison is with the work
that cannot be avoided: LiteLLM's own CPU answering the same creates, polls and downloads
in the same window (`baseline`). The candidate is the worker's CPU with its ffprobe runs;
the ratio (LiteLLM / worker) above 1 says the worker spends less than the proxy it drives.
The worker's idle CPU is in `extra.worker_idle_cpu_pct`.

Goals: every job succeeds, exactly one create per job, worker CPU (with children) ≤ 25 %
of a core averaged over the run, peak RSS ≤ 300 MiB.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from queues import keys
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import (
    AUTH,
    BENCH_REDIS_URL,
    children_cpu_seconds,
    cpu_seconds,
    flush_redis,
    percentile,
    raise_nofile,
)
from tests.bench.result import BenchResult, better_ratio

MODEL = "gemini/veo-3.1-fast-generate-001"
TAG = "vbench-inflight"
PROMPT = f"a lighthouse at dusk [emulate: tag={TAG}]"
VIDEO_SECONDS = 4
VIDEOS = 1000
GENERATION_S = 60.0
SUBMIT_CONNECTIONS = 16
GOAL_CPU_PCT = 25.0
GOAL_RSS_MIB = 300.0
FINAL = {"succeeded", "failed", "canceled"}


def run(*, smoke: bool) -> BenchResult:
    videos, generation_s, idle_s = (20, 2.0, 0.5) if smoke else (VIDEOS, GENERATION_S, 10.0)
    raise_nofile(4096)
    flush_redis()
    try:
        with chat_stack(workers=0, media_workers=1) as stack:
            return _run(stack, videos, generation_s, idle_s)
    finally:
        flush_redis()


def _run(stack: ChatStack, videos: int, generation_s: float, idle_s: float) -> BenchResult:
    proxy = stack.litellm
    assert proxy is not None
    worker = stack.media_workers[0].pid
    load_at_start = round(os.getloadavg()[0], 2)
    stack.emulator.set_model(stack.upstream_name(MODEL), video_seconds=generation_s)

    idle_cpu = cpu_seconds(worker)
    time.sleep(idle_s)
    worker_idle_pct = round((cpu_seconds(worker) - idle_cpu) / idle_s * 100, 2)

    started = time.time()
    cpu_at_start = (cpu_seconds(worker), children_cpu_seconds(worker), cpu_seconds(proxy.pid))
    job_ids = asyncio.run(_submit_all(stack.gateway_url, videos))
    submit_s = time.time() - started
    rows = _wait_final(job_ids, timeout=generation_s + videos * 0.5 + 120)
    ended = max((row["finished_at"] for row in rows if row["finished_at"] is not None), default=time.time())
    worker_cpu = cpu_seconds(worker) - cpu_at_start[0]
    worker_children_cpu = children_cpu_seconds(worker) - cpu_at_start[1]
    litellm_cpu = cpu_seconds(proxy.pid) - cpu_at_start[2]
    rss = _memory_kib(worker)
    stack.check_alive()

    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    made = stack.emulator.videos(tag=TAG)
    provider_ids = {row["provider_video_id"] for row in rows if row["provider_video_id"]}
    polls = [int(video["polls"]) for video in made]
    downloads = [int(video["downloads"]) for video in made]
    end_to_end = [row["finished_at"] - started for row in rows if row["finished_at"] is not None]
    created = sorted(row["created_at"] - started for row in rows if row["created_at"] is not None)
    # The provider (the emulator's clock) finishes a video generation_s after its create:
    # what is left is the poll interval's granularity, the poller's queue and the download.
    after_done = [
        row["finished_at"] - row["created_at"] - generation_s
        for row in rows
        if row["finished_at"] is not None and row["created_at"] is not None
    ]

    provider_side = _provider_side(stack.emulator.requests(), made)
    run_s = ended - started
    worker_pct = round((worker_cpu + worker_children_cpu) / run_s * 100, 2)
    worker_own_pct = round(worker_cpu / run_s * 100, 2)
    litellm_pct = round(litellm_cpu / run_s * 100, 2)
    peak_mib = round(rss["VmHWM"] / 1024, 1)
    # Every job succeeded with its own provider id and the provider saw as many creates as
    # jobs: by pigeonhole, exactly one create per job.
    one_create_each = statuses == {"succeeded": videos} and len(made) == videos and len(provider_ids) == videos
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "videos": videos,
        "model": MODEL,
        "emulated_generation_s": generation_s,
        "video": {"seconds": VIDEO_SECONDS, "size": "1280x720"},
        "submit_s": round(submit_s, 2),
        "run_s": round(run_s, 1),
        "final_statuses": statuses,
        "creates_seen_by_provider": len(made),
        "distinct_provider_ids": len(provider_ids),
        "one_create_per_job": one_create_each,
        "polls_per_job": _spread(polls),
        "downloads_per_job": _spread(downloads),
        "job_end_s_after_first_submit": _spread(end_to_end),
        "create_s_after_first_submit": _spread(created),
        "creates_per_s": round(len(created) / created[-1], 1) if created and created[-1] > 0 else None,
        "job_end_s_after_provider_done": _spread(after_done),
        # From the emulator's log (its last 2,000 requests: the later part of the run).
        "first_poll_s_after_provider_done": _spread(provider_side["poll"]),
        "download_s_after_provider_done": _spread(provider_side["download"]),
        "worker_cpu_pct_of_core": worker_pct,
        "worker_own_cpu_pct_of_core": worker_own_pct,
        "worker_children_cpu_s": round(worker_children_cpu, 2),
        "worker_idle_cpu_pct": worker_idle_pct,
        "litellm_cpu_pct_of_core": litellm_pct,
        "worker_cpu_ms_per_video": round((worker_cpu + worker_children_cpu) / videos * 1000, 1),
        "worker_rss_mib": {"peak": peak_mib, "at_end": round(rss["VmRSS"] / 1024, 1)},
        "litellm_start_s": proxy.start_s,
        "goal_all_succeeded_one_create_each": one_create_each,
        "goal_cpu_le_25_pct": worker_pct <= GOAL_CPU_PCT,
        "goal_rss_le_300_mib": peak_mib <= GOAL_RSS_MIB,
    }
    if not one_create_each:
        extra["failures"] = sorted({str(row["error"])[:200] for row in rows if row["status"] != "succeeded"})[:5]
    return BenchResult(
        scenario="video_inflight",
        baseline=litellm_pct,
        candidate=worker_pct,
        unit="cpu_pct_of_core",
        ratio=better_ratio(litellm_pct, worker_pct, higher_is_better=False),
        extra=extra,
    )


async def _submit_all(base: str, videos: int) -> list[str]:
    """`videos` video jobs over `SUBMIT_CONNECTIONS` keep-alive connections; their ids in order."""
    body = {"task": "video_generate", "input": {"prompt": PROMPT, "seconds": VIDEO_SECONDS}, "params": {"model": MODEL}}
    ids: list[str] = [""] * videos
    numbers = iter(range(videos))
    limits = httpx.Limits(max_connections=SUBMIT_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30, limits=limits) as client:

        async def connection() -> None:
            for index in numbers:
                response = await client.post("/api/jobs", json=body)
                if response.status_code != 202:
                    raise RuntimeError(f"submit {index}: {response.status_code} {response.text[:300]}")
                ids[index] = response.json()["id"]

        await asyncio.gather(*(connection() for _ in range(SUBMIT_CONNECTIONS)))
    return ids


def _job_rows(job_ids: list[str]) -> list[dict[str, Any]]:
    """Status, end time, error and provider video id of every job, from Redis."""
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(keys.job(job_id), ["status", "finished_at", "error"])
            pipe.hmget(keys.video(job_id), ["provider_video_id", "created_at"])
        raw: list[Any] = pipe.execute()
    finally:
        client.close()
    rows = []
    for (status, finished, error), (provider_id, created) in zip(raw[0::2], raw[1::2], strict=True):
        rows.append(
            {
                "status": (status or b"missing").decode(),
                "finished_at": float(finished) if finished is not None else None,
                "error": error.decode() if error is not None else None,
                "provider_video_id": provider_id.decode() if provider_id is not None else None,
                "created_at": float(created) if created is not None else None,
            }
        )
    return rows


def _wait_final(job_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = _job_rows(job_ids)
        if all(row["status"] in FINAL for row in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(1.0)


def _provider_side(requests: list[dict[str, Any]], made: list[dict[str, Any]]) -> dict[str, list[float]]:
    """For the videos in the emulator's request log: how long after the provider finished
    each was first polled, and its content asked for (`time` is the emulator's time.time())."""
    done = {video["id"]: video["created_at"] + video["generation_seconds"] for video in made}
    polled: dict[str, float] = {}
    downloads: list[float] = []
    for request in sorted(requests, key=lambda r: r["seq"]):
        if request["method"] != "GET":
            continue
        video_id = next((part for part in re.split(r"[/.:]", request["path"]) if part in done), None)
        if video_id is None or request["time"] < done[video_id]:
            continue
        path = request["path"]
        if path.endswith((".mp4", "/content")) or "/files/" in path:  # the CDN, OpenAI's, Gemini's
            downloads.append(request["time"] - done[video_id])
        elif video_id not in polled:
            polled[video_id] = request["time"] - done[video_id]
    return {"poll": list(polled.values()), "download": downloads}


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, from /proc/<pid>/status (kB)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def _spread(values: list[float] | list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "min": round(ordered[0], 2),
        "p50": round(percentile(ordered, 50), 2),
        "p90": round(percentile(ordered, 90), 2),
        "max": round(ordered[-1], 2),
    }
