"""Chat time to first token while the media queue is saturated, vs the same chat load on an idle stack.

The whole chain runs as processes (`_chat_stack`): provider emulator → LiteLLM 1.106.12 →
one interactive and one media worker → Redis → gateway. The chat load is `chat_ttft`'s at 8
streams: `"gpt-4o"` pinned, the emulator's first token after 50 ms, then 20 tokens/s, 40
tokens; closed loop, connections staggered over one stream's length. TTFT = request sent →
first chunk with non-empty `delta.content`.

The media load: `MEDIA_JOBS` calls, half speech (`POST /api/audio/speech`, gpt-4o-mini-tts)
and half images (`POST /api/images/generations`, gpt-image-2, 1024x1024), submitted with
`Prefer: respond-async` just before the chat load starts; the emulator holds each media
call `MEDIA_LATENCY_MS` before answering (its per-model `latency_ms` control). The media
worker runs 16 jobs at a time (the media class's `max_jobs`), so 200 jobs keep it busy
~25 s, longer than the chat load of a round: every loaded stream runs while the media queue
has a backlog (`extra` says how many jobs were still waiting when the chat load ended).

- baseline: the chat load on the idle stack (`mpc_idle`);
- candidate: the same chat load while the media jobs run (`mpc_loaded`).

Also, in `extra.direct`: the same chat load sent straight to LiteLLM, idle and while the same
media calls go straight to LiteLLM, all at once (a single shared proxy, as a user without
MPC-API would run it). Those calls all finish within a few seconds, so the loaded figure
counts only the streams sent while any of them was still in flight; chats LiteLLM failed in
that time are counted (`extra.media.direct[].chat_failures`), not fatal.

Each round runs mpc idle, mpc loaded (then waits for the media jobs to end), direct idle,
direct loaded, so drift on the shared machine hits all alike. CPU of every process per
phase is in `extra.cpu_pct_of_core` (with the ffmpeg processes the media worker runs, as
`media_worker_children`), and each stream's TTFT is split as `chat_ttft` splits it
(`extra.breakdown_p50_ms`, `_p90_ms`: `worker_to_provider` is the time from the job's start
to the emulator's log of the provider request, i.e. the worker and LiteLLM).

Goal: loaded TTFT p50 ≤ 1.15x idle.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import msgspec
import redis

from queues import keys
from tests.bench._chat_load import ChainCpu, StreamSample, chat_body, stream_loop
from tests.bench._chat_load import gateway_request as chat_gateway_request
from tests.bench._chat_load import litellm_request as chat_litellm_request
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import BENCH_REDIS_URL, children_cpu_seconds, flush_redis, ms, percentile, raise_nofile
from tests.bench._media_load import (
    IMAGE_MODEL,
    RESPOND_ASYNC,
    SPEECH_MODEL,
    gateway_request,
    image_body,
    litellm_request,
    speech_body,
)
from tests.bench._rawhttp import read_response
from tests.bench._ttft_breakdown import ttft_breakdown
from tests.bench._ttft_model import MODEL, PROVIDER_ID, TOKENS, TPS, TTFT_MS
from tests.bench.result import BenchResult, better_ratio

STREAMS = 8
SMOKE_TOKENS = 10  # a smoke run's streams last 0.5 s, not 2 s: it only proves the scenario works
GOAL_RATIO = 1.15  # loaded p50 / idle p50 at most
SUBMIT_CONNECTIONS = 16
PHASES = ("mpc_idle", "mpc_loaded", "direct_idle", "direct_loaded")
FINAL = {b"succeeded", b"failed", b"canceled"}


def run(*, smoke: bool) -> BenchResult:
    # (rounds, chat streams per phase, media jobs, emulator media latency in ms)
    rounds, per_phase, media_jobs, latency_ms = (1, 8, 16, 500) if smoke else (3, 48, 200, 2000)
    raise_nofile(1024)
    flush_redis()
    try:
        with chat_stack(workers=1, media_workers=1) as stack:
            return _run(stack, rounds, per_phase, media_jobs, latency_ms, SMOKE_TOKENS if smoke else TOKENS)
    finally:
        flush_redis()


def _media_bodies(n: int) -> list[tuple[str, dict[str, Any]]]:
    """Half speech, half images, interleaved; speech text and prompts repeat (the emulator
    caches what it made: its CPU is not the subject)."""
    return [
        ("speech", speech_body("The build finished and every test passed."))
        if i % 2 == 0
        else ("images", image_body("a lighthouse at dusk"))
        for i in range(n)
    ]


async def _send_all(base: str, requests: list[bytes], connections: int) -> tuple[list[Any], list[float]]:
    """Each request once over `connections` keep-alive connections; the decoded answers, and
    the time (perf_counter) each answer arrived."""
    host, port = base.removeprefix("http://").split(":")
    answers: list[Any] = [None] * len(requests)
    arrived: list[float] = [0.0] * len(requests)
    numbers = iter(range(len(requests)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 22)
        try:
            for index in numbers:
                writer.write(requests[index])
                head, body = await read_response(reader)
                arrived[index] = time.perf_counter()
                answers[index] = (head.status, body)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return answers, arrived


def _job_states(job_ids: list[str]) -> tuple[dict[str, int], float | None]:
    """How many jobs are in each status, and the latest finished_at among them."""
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(keys.job(job_id), ["status", "finished_at"])
        rows = cast(list[list[bytes | None]], pipe.execute())
    finally:
        client.close()
    counts: dict[str, int] = {}
    last: float | None = None
    for status, finished in rows:
        name = (status or b"missing").decode()
        counts[name] = counts.get(name, 0) + 1
        if finished is not None:
            last = max(last or 0.0, float(finished))
    return counts, last


def _wait_jobs(job_ids: list[str], timeout: float) -> tuple[dict[str, int], float | None]:
    deadline = time.monotonic() + timeout
    while True:
        counts, last = _job_states(job_ids)
        if sum(counts.get(s.decode(), 0) for s in FINAL) == len(job_ids) or time.monotonic() > deadline:
            return counts, last
        time.sleep(0.25)


def _run(stack: ChatStack, rounds: int, per_phase: int, media_jobs: int, latency_ms: int, tokens: int) -> BenchResult:
    proxy = stack.litellm
    assert proxy is not None
    load_at_start = round(os.getloadavg()[0], 2)
    chat_upstream = stack.upstream_name(PROVIDER_ID)
    stack.emulator.set_model(chat_upstream, ttft_ms=TTFT_MS, tps=TPS, tokens=tokens)
    stagger_s = (TTFT_MS / 1000 + (tokens - 1) / TPS) / STREAMS  # one stream's length spread over all
    for provider_id in (SPEECH_MODEL, IMAGE_MODEL):
        stack.emulator.set_model(stack.upstream_name(provider_id), latency_ms=latency_ms)
    bodies = _media_bodies(media_jobs)
    mpc_media = [gateway_request(kind, body, RESPOND_ASYNC) for kind, body in bodies]
    direct_media = [litellm_request(proxy, kind, body) for kind, body in bodies]

    def text(tag: str, i: int) -> str:
        return f"Tell me a story ({tag}), number {i}"

    def streams(path: str, n: int, tag: str = "warm-up") -> Coroutine[Any, Any, StreamSample]:
        """The chat load on `path`; request i's text is unique within the phase `tag`."""
        if path == "mpc":
            base, request_for = (
                stack.gateway_url,
                lambda i: chat_gateway_request(chat_body(MODEL, text(tag, i), stream=True)),
            )
        else:
            base, request_for = (
                proxy.base_url,
                lambda i: chat_litellm_request(proxy, PROVIDER_ID, chat_body(MODEL, text(tag, i), stream=True)),
            )
        return stream_loop(base, request_for, n, STREAMS, stagger_s=stagger_s)

    for path in ("mpc", "direct"):  # connections, caches, LiteLLM's first calls; the emulator's media cache
        _check(asyncio.run(streams(path, STREAMS)), STREAMS, f"{path} warm-up")
    warm = asyncio.run(_send_all(proxy.base_url, direct_media[:2], 2))[0]
    if [status for status, _ in warm] != [200, 200]:
        raise RuntimeError(f"direct media warm-up: {[(s, b[:200]) for s, b in warm]}")

    ttfts: dict[str, list[float]] = {name: [] for name in PHASES}
    per_round_p50: dict[str, list[float]] = {name: [] for name in PHASES}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in PHASES}
    media: dict[str, list[dict[str, Any]]] = {"mpc": [], "direct": []}
    parts: dict[str, dict[str, list[float]]] = {name: {} for name in PHASES}
    for round_number in range(rounds):
        for phase in PHASES:
            path, loaded = phase.split("_")[0], phase.endswith("loaded")
            tag = f"{phase} {round_number}"
            stack.emulator.clear_requests()
            watch = ChainCpu(stack.pids())
            children = children_cpu_seconds(stack.media_workers[0].pid)
            started = time.perf_counter()
            watch.start()
            if not loaded:
                sample = asyncio.run(streams(path, per_phase, tag))
                cpu[phase].append(_with_children(watch.stop(), stack, children, started))
                _check(sample, per_phase, phase)
                kept = sample.ttfts
            elif path == "mpc":
                sample, report, chat_ended = asyncio.run(
                    _mpc_loaded(streams, tag, mpc_media, per_phase, stack.gateway_url)
                )
                cpu[phase].append(_with_children(watch.stop(), stack, children, started))
                _check(sample, per_phase, phase)
                counts, last_finished = _wait_jobs(report.pop("job_ids"), timeout=media_jobs * latency_ms / 1000 + 120)
                report["final_statuses"] = counts
                report["media_drained_s_after_chat_end"] = (
                    round(last_finished - chat_ended, 1) if last_finished is not None else None
                )
                media["mpc"].append(report)
                kept = sample.ttfts
            else:
                sample, report, cutoff = asyncio.run(
                    _direct_loaded(streams, tag, direct_media, per_phase, proxy.base_url)
                )
                cpu[phase].append(_with_children(watch.stop(), stack, children, started))
                # A shared proxy may fail some chats under the media burst: that is part of
                # what this comparison shows, so they are counted, not fatal.
                report["chat_failures"] = len(sample.failures)
                report["chat_failure_examples"] = sorted({f[:160] for f in sample.failures})[:3]
                during = [i for i, trace in enumerate(sample.traces) if trace.sent < cutoff]
                kept = [sample.ttfts[i] for i in during]
                sample.traces = [sample.traces[i] for i in during]
                report["streams_sent_while_media_in_flight"] = len(kept)
                media["direct"].append(report)
            ttfts[phase].extend(kept)
            found = ttft_breakdown(stack, chat_upstream, sample.traces, functools.partial(text, tag))
            for part, values in found.items():
                parts[phase].setdefault(part, []).extend(values)
            per_round_p50[phase].append(ms(percentile(kept, 50)))
    stack.check_alive()

    def pct(phase: str, q: float) -> float:
        return ms(percentile(ttfts[phase], q))

    baseline, candidate = pct("mpc_idle", 50), pct("mpc_loaded", 50)
    slowdown = round(candidate / baseline, 3)
    direct_slowdown = round(pct("direct_loaded", 50) / pct("direct_idle", 50), 3)
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "concurrent_streams": STREAMS,
        "streams_per_phase_per_round": per_phase,
        "rounds": rounds,
        "media_jobs_per_round": media_jobs,
        "media_models": {"speech": SPEECH_MODEL, "images": IMAGE_MODEL},
        "media_latency_ms": latency_ms,
        "chat_emulator": {"model": MODEL, "ttft_ms": TTFT_MS, "tps": TPS, "tokens": tokens},
        "loaded_over_idle_p50": slowdown,
        "ttft_ms": {
            phase: {"n": len(ttfts[phase]), "p50": pct(phase, 50), "p90": pct(phase, 90), "p99": pct(phase, 99)}
            for phase in PHASES
        },
        "ttft_p50_ms_per_round": per_round_p50,
        "direct": {
            "idle_p50_ms": pct("direct_idle", 50),
            "loaded_p50_ms": pct("direct_loaded", 50),
            "loaded_over_idle_p50": direct_slowdown,
            "loaded_p99_ms": pct("direct_loaded", 99),
        },
        "breakdown_p50_ms": {
            phase: {part: ms(percentile(values, 50)) for part, values in parts[phase].items()} for phase in PHASES
        },
        "breakdown_p90_ms": {
            phase: {part: ms(percentile(values, 90)) for part, values in parts[phase].items()} for phase in PHASES
        },
        "media": media,
        "cpu_pct_of_core": {phase: _mean(rows) for phase, rows in cpu.items()},
        "litellm_start_s": proxy.start_s,
        "goal_loaded_le_1_15x_idle": slowdown <= GOAL_RATIO,
    }
    return BenchResult(
        scenario="media_isolation",
        baseline=baseline,
        candidate=candidate,
        unit="ms_p50_ttft",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )


StreamsFor = Callable[[str, int, str], Coroutine[Any, Any, StreamSample]]


async def _mpc_loaded(
    streams: StreamsFor, tag: str, media: list[bytes], n: int, base: str
) -> tuple[StreamSample, dict[str, Any], float]:
    """Submit the media jobs (202s), then run the chat load; what the media queue did."""
    started = time.perf_counter()
    answers, _ = await _send_all(base, media, SUBMIT_CONNECTIONS)
    submit_s = time.perf_counter() - started
    statuses: dict[int, int] = {}
    job_ids: list[str] = []
    for status, body in answers:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 202:
            job_ids.append(msgspec.json.decode(body)["id"])
    if statuses != {202: len(media)}:
        raise RuntimeError(f"media submissions: {statuses}; first: {answers[0][1][:300]!r}")
    sample = await streams("mpc", n, tag)
    chat_ended = time.time()
    counts, _ = _job_states(job_ids)
    report = {
        "submit_s": round(submit_s, 2),
        "statuses_when_chat_ended": counts,
        "job_ids": job_ids,
    }
    return sample, report, chat_ended


async def _direct_loaded(
    streams: StreamsFor, tag: str, media: list[bytes], n: int, base: str
) -> tuple[StreamSample, dict[str, Any], float]:
    """The media calls all at once, straight to LiteLLM, with the chat load beside them; the
    wall-clock time (time.time()) the last media answer arrived."""
    started = time.perf_counter()
    calls = asyncio.ensure_future(_send_all(base, media, len(media)))
    sample = await streams("direct", n, tag)
    answers, arrived = await calls
    statuses: dict[int, int] = {}
    for status, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    last = max(arrived)
    cutoff = time.time() - (time.perf_counter() - last)
    return sample, {"statuses": statuses, "all_answered_s": round(last - started, 2)}, cutoff


def _with_children(used: dict[str, float], stack: ChatStack, before: float, started: float) -> dict[str, float]:
    """`used` plus the CPU of the processes the media worker ran (ffmpeg) since `before`."""
    spent = children_cpu_seconds(stack.media_workers[0].pid) - before
    used["media_worker_children_cpu_pct_of_core"] = round(spent / (time.perf_counter() - started) * 100, 1)
    return used


def _check(sample: StreamSample, expected: int, phase: str) -> None:
    if sample.failures or len(sample.ttfts) != expected:
        raise RuntimeError(f"{phase}: {len(sample.ttfts)} of {expected} streams complete; {sample.failures[:5]}")


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    names = {key for row in rows for key in row}
    return {key: round(sum(row.get(key, 0.0) for row in rows) / len(rows), 1) for key in sorted(names)}
