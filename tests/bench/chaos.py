"""Chaos under load: the whole stack as processes, a steady mixed load, and one fault after
another; then every job a client was told about is checked.

Stack (`_chat_stack`, on a `redis-server` of the run's own with AOF on, `_redis_server`):
provider emulator → LiteLLM 1.106.12 → one worker per queue class (interactive, batch,
media) → Redis → gateway. Load (`_mixed_load`): chat, streamed chat, `chat_general` jobs
followed over SSE (resuming with `Last-Event-ID` when cut) and small speech requests, in
turn, `RATE` a second.

Faults, each followed by `OBSERVE_S` of the same load:

1. `litellm`: kill -9 LiteLLM, start it again on the same port;
2. `worker_interactive`, `worker_batch`, `worker_media`: kill -9 the class's worker, start
   a new one;
3. `redis`: kill -9 Redis (AOF, `appendfsync always`), start it again on its data.

For each fault: the client errors of the operations that belong to it (those running when
it struck, and those started after it and before the next), by kind and what the client
saw; when the last of them started (`errors_until_s`, after the fault); how long the part
took to come back (`back_s`: LiteLLM healthy, worker announced, Redis answering with its
data loaded); and Redis's slowest PING in the window (a thread pings it every 0.2 s).

Why `appendfsync always`: with `everysec` a kill -9 loses up to a second of acknowledged
writes, i.e. jobs answered 202 that no longer exist after the restart. The run measures
what `always` costs: sequential `POST /api/jobs` p50 under each setting on the same server
(`extra.submit_p50_ms_by_fsync`; CONFIG SET switches it live).

After the faults the load stops, the run waits for every job to end, and audits them
(`_job_audit`): jobs lost, jobs run twice beyond the documented retry, SSE gaps and
duplicates. Goal: lost 0, twice 0, no SSE gap or duplicate, and client errors only of the
kinds the README names for each fault.

Baseline: client error rate before the first fault (warm-up). Candidate: over the run.
`--smoke`: the emulator instead of LiteLLM (LiteLLM takes ~12 s to start), no batch worker,
no speech, the Redis fault only, a few seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import redis

from sandbox.litellm_proxy import offline_env, start_litellm
from sandbox.processes import stop_process
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, ms, percentile
from tests.bench._job_audit import WorkerKill, audit, wait_final
from tests.bench._mixed_load import KINDS, SMOKE_KINDS, MixedLoad, Outcome, lookup_unacknowledged
from tests.bench._redis_server import Fsync, OwnRedis
from tests.bench.result import BenchResult
from tests.support.litellm import project_litellm_config

RATE = 4.0  # operations started per second
DRAIN_TIMEOUT_S = 90.0


def run(*, smoke: bool) -> BenchResult:
    warmup_s, observe_s = (1.0, 2.0) if smoke else (20.0, 40.0)
    submits = 10 if smoke else 200
    # A killed worker's jobs run again only once their in-progress marks expire (10 s):
    # the smoke run, which only proves the scenario works, leaves that wait out.
    faults = ["redis"] if smoke else ["litellm", "worker_interactive", "worker_batch", "worker_media", "redis"]
    with ExitStack() as exits:
        own = exits.enter_context(OwnRedis(fsync="always"))
        stack = exits.enter_context(
            chat_stack(
                workers=1,
                media_workers=1,
                batch_workers=0 if smoke else 1,
                upstream="emulator" if smoke else "litellm",
                redis_url=own.url,
            )
        )
        chaos = Chaos(stack, own, exits)
        fsync_cost = {mode: _submit_p50_ms(stack, own, mode, submits) for mode in ("everysec", "always")}
        pings = PingWatch(own).start()
        # Speech is left out of the smoke run: the emulator takes seconds per speech there.
        load = MixedLoad(stack.gateway_url, RATE, SMOKE_KINDS if smoke else KINDS).start()
        time.sleep(warmup_s)
        first_fault = time.time()
        for name in faults:
            chaos.inject(name)
            time.sleep(observe_s)
            stack.check_alive()  # a worker that did not survive the fault fails the run here
        outcomes = load.stop()
        chaos.pings = pings.stop()
        lookup_unacknowledged(stack.gateway_url, outcomes)
        job_ids = [o.job_id for o in outcomes if o.job_id]
        drain_s = wait_final(own.url, job_ids, DRAIN_TIMEOUT_S)
        jobs = audit(own.url, outcomes, chaos.kills)
        stack.check_alive()
        return _result(outcomes, chaos, jobs, first_fault, fsync_cost, drain_s, load.skipped, smoke)


class Chaos:
    def __init__(self, stack: ChatStack, own: OwnRedis, exits: ExitStack) -> None:
        self.stack = stack
        self.own = own
        self.exits = exits
        self.faults: list[dict[str, Any]] = []  # name, at (time.time()), back_s
        self.kills: list[WorkerKill] = []
        self.pings: list[tuple[float, float]] = []

    def inject(self, name: str) -> None:
        at = time.time()
        action: Callable[[], None] = {
            "litellm": self._restart_litellm,
            "redis": self._restart_redis,
        }.get(name) or (lambda: self._restart_worker(name.removeprefix("worker_")))
        action()
        self.faults.append({"name": name, "at": at, "back_s": round(time.time() - at, 2)})

    def _restart_litellm(self) -> None:
        proxy = self.stack.litellm
        assert proxy is not None
        os.kill(proxy.pid, signal.SIGKILL)
        config = project_litellm_config(self.stack.emulator.base_url)
        port = int(proxy.base_url.rsplit(":", 1)[1])
        log = Path(proxy.log).with_name("litellm-restarted.log")
        workdir = Path(proxy.log).parent
        # The first proxy's config file is still in its directory; the same port, config and key.
        env = offline_env(config, proxy.master_key)
        process = start_litellm(workdir / "config.yaml", port, env, log=log)
        self.exits.callback(stop_process, process)

    def _restart_worker(self, queue: str) -> None:
        pool = self.stack.media_workers if queue == "media" else self.stack.workers
        victim = next(w for w in pool if _queue_of(w.args) == queue)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        self.kills.append(WorkerKill(at=time.time(), queue=queue))
        pool.remove(victim)
        self.stack.add_workers(1, queue)

    def _restart_redis(self) -> None:
        self.own.crash()
        self.own.start()


def _queue_of(args: list[str]) -> str:
    return args[args.index("--queue") + 1]


def _submit_p50_ms(stack: ChatStack, own: OwnRedis, fsync: Fsync, n: int) -> float:
    """Sequential `POST /api/jobs` under `appendfsync <fsync>`; the server keeps `always`."""
    client = own.client()
    client.config_set("appendfsync", fsync)
    latencies: list[float] = []
    body = {"task": "chat_general", "input": {"messages": [{"role": "user", "content": "fsync cost"}]}}
    try:
        with httpx.Client(base_url=stack.gateway_url, headers=AUTH, timeout=10) as http:
            for _ in range(n):
                started = time.perf_counter()
                response = http.post("/api/jobs", json=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
    finally:
        client.config_set("appendfsync", "always")
        client.close()
    return ms(percentile(latencies, 50))


def _errors(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.error is not None:
            key = f"{o.kind}: {o.error}" + (" (Retry-After)" if o.retry_after else "")
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _fault_of(o: Outcome, faults: list[dict[str, Any]]) -> int | None:
    """The fault an operation belongs to: the last one that happened while it ran, else the
    last one before it started (None: before the first)."""
    during = [i for i, f in enumerate(faults) if o.started <= f["at"] <= o.ended]
    if during:
        return during[-1]
    before = [i for i, f in enumerate(faults) if f["at"] < o.started]
    return before[-1] if before else None


def _per_fault(
    outcomes: list[Outcome], faults: list[dict[str, Any]], pings: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    out = []
    for i, fault in enumerate(faults):
        start = fault["at"]
        stop = faults[i + 1]["at"] if i + 1 < len(faults) else float("inf")
        window = [o for o in outcomes if _fault_of(o, faults) == i]
        failed = [o for o in window if o.error is not None]
        slow = [lat for at, lat in pings if start <= at < stop]
        out.append(
            {
                "fault": fault["name"],
                "back_s": fault["back_s"],
                "operations": len(window),
                "client_errors": len(failed),
                "errors_until_s": round(max(o.started for o in failed) - start, 2) if failed else 0.0,
                "errors": _errors(failed),
                # When each failed operation started, after the fault (s), and what it saw:
                "error_times": [[round(o.started - start, 1), o.kind, o.error] for o in failed][:30],
                # Redis answering PING (every 0.2 s) in this window: its slowest answer and
                # how many took over a second (an AOF fsync stall shows here).
                "redis_ping_max_ms": round(max(slow) * 1000, 1) if slow else None,
                "redis_pings_over_1s": sum(1 for lat in slow if lat > 1),
            }
        )
    return out


class PingWatch:
    """PING the run's Redis every 0.2 s in a thread: (time, seconds to answer; 5 s when it
    did not answer in time or at all)."""

    def __init__(self, own: OwnRedis) -> None:
        self.own = own
        self.pings: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-ping", daemon=True)

    def start(self) -> PingWatch:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join()
        return self.pings

    def _run(self) -> None:
        client = redis.Redis(port=self.own.port, socket_timeout=5, socket_connect_timeout=1)
        while not self._stop.wait(0.2):
            at = time.time()
            started = time.perf_counter()
            try:
                client.ping()
                self.pings.append((at, time.perf_counter() - started))
            except redis.RedisError:
                self.pings.append((at, 5.0))
        client.close()


def _result(
    outcomes: list[Outcome],
    chaos: Chaos,
    jobs: dict[str, Any],
    first_fault: float,
    fsync_cost: dict[str, float],
    drain_s: float,
    skipped: int,
    smoke: bool,
) -> BenchResult:
    before = [o for o in outcomes if o.ended < first_fault]
    baseline = sum(1 for o in before if o.error) / len(before) if before else 0.0
    candidate = sum(1 for o in outcomes if o.error) / len(outcomes) if outcomes else 0.0
    faults = _per_fault(outcomes, chaos.faults, chaos.pings)
    extra: dict[str, Any] = {
        "rate_per_s": RATE,
        "operations": len(outcomes),
        "operations_by_kind": {k: sum(1 for o in outcomes if o.kind == k) for k in sorted({o.kind for o in outcomes})},
        "starts_skipped": skipped,
        "warmup_errors": _errors(before),
        "faults": faults,
        "jobs": jobs,
        "drain_s": round(drain_s, 1),
        "redis_appendfsync": "always",
        "submit_p50_ms_by_fsync": fsync_cost,
        "goal_jobs_lost_0": jobs["lost"] == 0,
        "goal_jobs_run_twice_0": jobs["run_twice"] == 0,
        "goal_sse_no_gap_no_duplicate": jobs["sse_gaps"] == 0 and jobs["sse_duplicates"] == 0,
        "smoke": smoke,
    }
    return BenchResult(
        scenario="chaos",
        baseline=round(baseline, 4),
        candidate=round(candidate, 4),
        unit="client_error_rate",
        ratio=round((1 - candidate) / (1 - baseline), 3) if baseline < 1 else 0.0,
        extra=extra,
    )
