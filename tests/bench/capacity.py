"""The inputs of docs/capacity.md: CPU per operation in each process, and Redis commands per
operation, one kind of operation at a time on an otherwise idle stack.

Stack (`_chat_stack` on a `redis-server` of the run's own, `_redis_server`, so INFO
commandstats counts this run's commands alone): provider emulator → LiteLLM 1.106.12 → one
interactive and one media worker → Redis → gateway. Phases, each `N` operations over
`CONCURRENCY` keep-alive connections (`_chat_load.closed_loop` / `stream_loop`):

- `idle`: nothing for `IDLE_S`: each process's background CPU and Redis commands per second
  (heartbeats, the gateway's health refresh), subtracted from every phase below;
- `chat`: non-streamed `POST /api/chat/completions` (`gpt-4o`);
- `stream_long` / `stream_short`: streamed chats of `LONG_TOKENS` and `SHORT_TOKENS` tokens
  (the emulator sends one chunk per token): their difference over the extra chunks is the
  cost of one streamed chunk;
- `job`: `POST /api/jobs` (`chat_general`, `Prefer: wait=30`, answered once the job ends);
- `speech`: `POST /api/audio/speech` (`gpt-4o-mini-tts`, a short text: a small media job).

Each phase's figures: per operation, CPU ms of the gateway, the worker of its class,
LiteLLM, the emulator and Redis (`/proc/<pid>/task/*/schedstat`), and Redis commands by
name (commandstats, which counts the commands a Lua script runs as well as the EVALSHA
that ran it) and Redis's time in them (`usec`). Baseline: the chat phase's MPC-API CPU per request (gateway + worker +
Redis); candidate: the job phase's. `--smoke`: the emulator instead of LiteLLM, 4 operations
a phase, no speech.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import msgspec

from tests.bench._chat_load import chat_body, closed_loop, stream_loop
from tests.bench._chat_load import gateway_request as chat_request
from tests.bench._chat_stack import ChatStack, chat_stack
from tests.bench._common import AUTH, cpu_seconds
from tests.bench._media_load import gateway_request as media_request
from tests.bench._media_load import speech_body
from tests.bench._rawhttp import request_bytes
from tests.bench._redis_server import OwnRedis
from tests.bench.result import BenchResult

MODEL = "gpt-4o"
PROVIDER_ID = "openai/gpt-4o"
CONCURRENCY = 8
IDLE_S = 10.0
LONG_TOKENS = 64
SHORT_TOKENS = 4
JSON = {"Content-Type": "application/json"}


def run(*, smoke: bool) -> BenchResult:
    n, idle_s = (4, 0.5) if smoke else (400, IDLE_S)
    with (
        OwnRedis(fsync="everysec") as own,
        chat_stack(
            workers=1, media_workers=0 if smoke else 1, upstream="emulator" if smoke else "litellm", redis_url=own.url
        ) as stack,
    ):
        probe = Probe(stack, own)
        upstream = stack.upstream_name(PROVIDER_ID)
        chat = chat_request(chat_body(MODEL, "capacity"))
        job_body = {"task": "chat_general", "input": {"messages": [{"role": "user", "content": "cap"}]}}
        job = request_bytes("POST", "/api/jobs", {**AUTH, **JSON, "Prefer": "wait=30"}, msgspec.json.encode(job_body))
        speech = media_request("speech", speech_body("Capacity says hello."))
        stream = chat_request(chat_body(MODEL, "capacity", stream=True))

        def closed(request: bytes, expect: int, count: int = n) -> Callable[[], Coroutine[Any, Any, Any]]:
            async def go() -> None:
                sample = await closed_loop(stack.gateway_url, request, count, CONCURRENCY)
                if sample.statuses.get(expect, 0) != count:
                    raise RuntimeError(f"expected {count} answers {expect}, got {sample.statuses}")

            return go

        def streams(tokens: int) -> Callable[[], Coroutine[Any, Any, Any]]:
            async def go() -> None:
                stack.emulator.set_model(upstream, ttft_ms=0, tps=1000, tokens=tokens)
                try:
                    sample = await stream_loop(stack.gateway_url, lambda _: stream, n, CONCURRENCY)
                finally:
                    stack.emulator.reset_model(upstream)
                if sample.failures:
                    raise RuntimeError(f"stream failures: {sample.failures[:3]}")

            return go

        asyncio.run(closed(chat, 200)())  # warm-up: imports, connections, LiteLLM's caches
        phases: dict[str, dict[str, Any]] = {"idle": probe.idle(idle_s)}
        per_s = phases["idle"]
        phases["chat"] = probe.phase(closed(chat, 200), n, per_s)
        phases["stream_long"] = probe.phase(streams(LONG_TOKENS), n, per_s)
        phases["stream_short"] = probe.phase(streams(SHORT_TOKENS), n, per_s)
        phases["job"] = probe.phase(closed(job, 200), n, per_s)
        if not smoke:  # the emulator's speech takes seconds: the smoke run leaves it out
            speeches = n // 4  # a speech job costs several chats: fewer give as many samples of CPU
            phases["speech"] = probe.phase(closed(speech, 200, speeches), speeches, per_s)
        stack.check_alive()
    chunk = {
        name: round(
            (phases["stream_long"]["cpu_ms"][name] - phases["stream_short"]["cpu_ms"][name])
            / (LONG_TOKENS - SHORT_TOKENS),
            4,
        )
        for name in phases["chat"]["cpu_ms"]
    }
    own_cpu = ("gateway", "worker_interactive", "redis")
    baseline = round(sum(phases["chat"]["cpu_ms"][k] for k in own_cpu), 3)
    candidate = round(sum(phases["job"]["cpu_ms"][k] for k in own_cpu), 3)
    return BenchResult(
        scenario="capacity",
        baseline=baseline,
        candidate=candidate,
        unit="mpc_cpu_ms_per_op",
        ratio=round(baseline / candidate, 3) if candidate else 0.0,
        extra={
            "operations_per_phase": n,
            "concurrency": CONCURRENCY,
            "phases": phases,
            "cpu_ms_per_stream_chunk": chunk,
        },
    )


class Probe:
    def __init__(self, stack: ChatStack, own: OwnRedis) -> None:
        self.own = own
        self.pids = {"gateway": stack.gateway_pid, "emulator": stack.emulator_pid, "redis": own.pid}
        for worker in (*stack.workers, *stack.media_workers):
            self.pids[f"worker_{worker.args[worker.args.index('--queue') + 1]}"] = worker.pid
        if stack.litellm is not None:
            self.pids["litellm"] = stack.litellm.pid

    def _snapshot(self) -> tuple[float, dict[str, float], dict[str, int]]:
        stats = cast(dict[str, dict[str, Any]], self.own.info("commandstats"))
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        calls["_usec"] = sum(int(v["usec"]) for v in stats.values())
        return time.perf_counter(), {name: cpu_seconds(pid) for name, pid in self.pids.items()}, calls

    def _delta(
        self, before: tuple[float, dict[str, float], dict[str, int]]
    ) -> tuple[float, dict[str, float], dict[str, int]]:
        t0, cpu0, calls0 = before
        t1, cpu1, calls1 = self._snapshot()
        calls = {k: v - calls0.get(k, 0) for k, v in calls1.items() if v - calls0.get(k, 0) > 0}
        # INFO itself is counted: one per snapshot.
        calls["info"] = calls.get("info", 1) - 1
        return t1 - t0, {k: cpu1[k] - cpu0[k] for k in cpu1}, {k: v for k, v in calls.items() if v > 0}

    def idle(self, seconds: float) -> dict[str, Any]:
        before = self._snapshot()
        time.sleep(seconds)
        wall, cpu, calls = self._delta(before)
        return {
            "seconds": round(wall, 2),
            "cpu_ms_per_s": {k: round(v * 1000 / wall, 3) for k, v in cpu.items()},
            "redis_commands_per_s": {k: round(v / wall, 2) for k, v in sorted(calls.items()) if k != "_usec"},
            "redis_command_us_per_s": round(calls.get("_usec", 0) / wall, 1),
        }

    def phase(self, work: Callable[[], Coroutine[Any, Any, Any]], n: int, idle: dict[str, Any]) -> dict[str, Any]:
        before = self._snapshot()
        asyncio.run(work())
        wall, cpu, calls = self._delta(before)
        cpu_ms = {k: round((v * 1000 - idle["cpu_ms_per_s"][k] * wall) / n, 3) for k, v in cpu.items()}
        background = {**idle["redis_commands_per_s"], "_usec": idle["redis_command_us_per_s"]}
        per_op = {k: round((v - background.get(k, 0.0) * wall) / n, 2) for k, v in sorted(calls.items())}
        usec = per_op.pop("_usec", 0.0)
        per_op = {k: v for k, v in per_op.items() if v >= 0.05}
        return {
            # Redis's own time executing the commands (commandstats `usec`), not its I/O:
            "redis_command_us_per_op": usec,
            "ops_per_s": round(n / wall, 1),
            "cpu_ms": cpu_ms,
            "redis_commands_per_op": per_op,
            "redis_commands_per_op_total": round(sum(per_op.values()), 1),
        }
