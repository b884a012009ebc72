"""Soak: 30 minutes of a steady mixed load on the whole stack, sampled every `SAMPLE_S`.

Stack (`_chat_stack` on a `redis-server` of the run's own, `_redis_server`, AOF with
`appendfsync everysec`, so its INFO figures are this run's alone): provider emulator →
LiteLLM 1.106.12 → one worker per queue class → Redis → gateway. Load (`_mixed_load`): chat,
streamed chat, `chat_general` jobs followed over SSE, small speech requests, in turn, `RATE`
a second (open loop).

Each sample: RSS of every process, Redis `used_memory` and key count, the age of the oldest
entry of each queue, and the client errors so far. After the warm-up (`WARMUP_S`):

- RSS of every process at the end within +10 % of its value after the warm-up (the max over
  the last minute against the median of the minute after warm-up, so one GC pause does
  not decide it);
- queue age bounded: the oldest job no worker holds yet, its max after the warm-up below
  `QUEUE_AGE_LIMIT_S`;
- no error growth: no client error at all after the warm-up, or (if any) not more in the
  last third than in the first;
- Redis memory flat: `used_memory` of every sample after the warm-up within ±10 % of their
  median. The stack runs with a short retention (`RETENTION`: `MPC_RESULT_TTL_S=120`,
  `MPC_EXPIRED_GRACE_S=60`), so a finished job's record and events are gone 3 minutes after
  it ends, well within the warm-up: from then on as many jobs expire as are made, and Redis
  holds a steady rate x 180 s of them. (At the defaults, 25 h for an interactive job, it
  would grow for a day.) The run reports the bytes per job kept (`used_memory` over the idle
  server's, per job record) and `extra.redis_mib_at_default_retention`, what the same rate
  would hold at the defaults (jobs/s x bytes per job x 25 h: docs/capacity.md).

Every acknowledged job is audited as in `chaos` (none lost, none run twice), 30 s after
its operation ended (`RollingAudit`), while its record still exists.
Baseline: mean RSS of all processes after warm-up (MiB); candidate: at the end.
`--smoke`: 3 s on the emulator (no LiteLLM, no batch worker, no speech), no goals checked
(the short retention is set all the same).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, cast

from arq.constants import in_progress_key_prefix

from queues import keys
from tests.bench._chat_stack import ChatStack, chat_stack, vm_rss_kib
from tests.bench._common import cpu_seconds
from tests.bench._job_audit import audit, wait_final
from tests.bench._mixed_load import KINDS, SMOKE_KINDS, MixedLoad, Outcome, lookup_unacknowledged
from tests.bench._redis_server import OwnRedis
from tests.bench.result import BenchResult

RATE = 4.0
SAMPLE_S = 10.0
QUEUE_AGE_LIMIT_S = 5.0
RSS_GROWTH_LIMIT = 1.10
REDIS_FLAT_LIMIT = 0.10
# Short enough that finished jobs expire within the warm-up (record: 120 + 60 s).
RETENTION = {"MPC_RESULT_TTL_S": "120", "MPC_EXPIRED_GRACE_S": "60"}
DEFAULT_RECORD_TTL_H = 25  # an interactive job's record at the default retention
# An operation's job is audited this long after the operation ended: final by then, and its
# record kept 180 s after its end.
AUDIT_AFTER_S = 30.0


def run(*, smoke: bool) -> BenchResult:
    duration_s, warmup_s, sample_s = (3.0, 1.0, 1.0) if smoke else (1800.0, 300.0, SAMPLE_S)
    with ExitStack() as exits:
        own = exits.enter_context(OwnRedis(fsync="everysec"))
        stack = exits.enter_context(
            chat_stack(
                workers=1,
                media_workers=1,
                batch_workers=0 if smoke else 1,
                upstream="emulator" if smoke else "litellm",
                redis_url=own.url,
                env=RETENTION,
            )
        )
        pids = _pids(stack, own)
        idle_mib = _used_memory_mib(own)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        load = MixedLoad(stack.gateway_url, RATE, SMOKE_KINDS if smoke else KINDS).start()
        audits = RollingAudit(own.url, 0.5 if smoke else AUDIT_AFTER_S)
        samples = _sample(stack, own, pids, load, duration_s, sample_s, audits)
        outcomes = load.stop()
        wall = samples[-1]["t"]
        cpu = {name: round((cpu_seconds(pid) - cpu_before[name]) / wall * 100, 2) for name, pid in pids.items()}
        rest = outcomes[audits.audited :]
        lookup_unacknowledged(stack.gateway_url, rest)
        wait_final(own.url, [o.job_id for o in rest if o.job_id], 60)
        jobs = audits.finish(rest)
        stack.check_alive()
        return _result(samples, outcomes, jobs, cpu, warmup_s, load.skipped, smoke, idle_mib)


def _used_memory_mib(own: OwnRedis) -> float:
    client = own.client()
    try:
        return round(int(cast(dict[str, Any], client.info("memory"))["used_memory"]) / 2**20, 2)
    finally:
        client.close()


def _pids(stack: ChatStack, own: OwnRedis) -> dict[str, int]:
    pids = {"gateway": stack.gateway_pid, "emulator": stack.emulator_pid, "redis": own.pid}
    for worker in (*stack.workers, *stack.media_workers):
        pids[f"worker_{worker.args[worker.args.index('--queue') + 1]}"] = worker.pid
    if stack.litellm is not None:
        pids["litellm"] = stack.litellm.pid
    return pids


class RollingAudit:
    """Each job audited (`_job_audit.audit`) while its record still exists: under the soak's
    retention a finished job is gone 3 minutes after it ends, long before the run's end, and
    an audit at the end would find most jobs gone. Operations are audited `after_s` after
    they ended, in the order they ended (the order of `MixedLoad.outcomes`)."""

    def __init__(self, redis_url: str, after_s: float) -> None:
        self.redis_url = redis_url
        self.after_s = after_s
        self.audited = 0  # outcomes[:audited] are done
        self._parts: list[dict[str, Any]] = []

    def due(self, outcomes: list[Outcome], now: float) -> None:
        end = self.audited
        while end < len(outcomes) and outcomes[end].ended <= now - self.after_s:
            end += 1
        if end > self.audited:
            self._parts.append(audit(self.redis_url, outcomes[self.audited : end], []))
            self.audited = end

    def finish(self, rest: list[Outcome]) -> dict[str, Any]:
        """The audit of the whole run: the parts so far and `rest` (audited now)."""
        parts = [*self._parts, audit(self.redis_url, rest, [])]
        merged: dict[str, Any] = {}
        for part in parts:
            for name, value in part.items():
                if isinstance(value, dict):
                    counts = merged.setdefault(name, {})
                    for status, n in value.items():
                        counts[status] = counts.get(status, 0) + n
                elif isinstance(value, list):
                    merged[name] = (merged.get(name, []) + value)[:20]
                else:
                    merged[name] = merged.get(name, 0) + value
        merged["audited_while_running"] = self.audited
        return merged


def _sample(
    stack: ChatStack,
    own: OwnRedis,
    pids: dict[str, int],
    load: MixedLoad,
    duration_s: float,
    every_s: float,
    audits: RollingAudit,
) -> list[dict[str, Any]]:
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    client = own.client()
    try:
        while True:
            time.sleep(every_s)
            t = time.monotonic() - started
            memory = cast(dict[str, Any], client.info("memory"))
            now_ms = time.time() * 1000
            ages = {queue: _waiting_age_s(client, name, now_ms) for queue, name in keys.QUEUE_NAMES.items()}
            outcomes = list(load.outcomes)
            samples.append(
                {
                    "t": round(t, 1),
                    "rss_mib": {name: round(vm_rss_kib(pid) / 1024, 1) for name, pid in pids.items()},
                    "redis_used_memory_mib": round(int(memory["used_memory"]) / 2**20, 2),
                    "redis_keys": int(cast(int, client.dbsize())),
                    "jobs_kept": _jobs_kept(client),
                    "queue_age_s": ages,
                    "operations": len(outcomes),
                    "errors": sum(1 for o in outcomes if o.error is not None),
                }
            )
            audits.due(outcomes, time.time())
            stack.check_alive()
            if t >= duration_s:
                return samples
    finally:
        client.close()


def _waiting_age_s(client: Any, queue_name: str, now_ms: float) -> float:
    """Age of the oldest job of a queue that no worker holds: arq keeps a running job in
    its queue until it ends, so an entry with an in-progress mark is running, not waiting."""
    oldest = cast(list[tuple[bytes, float]], client.zrange(queue_name, 0, 63, withscores=True))
    if not oldest:
        return 0.0
    with client.pipeline(transaction=False) as pipe:
        for job_id, _ in oldest:
            pipe.exists(in_progress_key_prefix + job_id.decode())
        running = pipe.execute()
    for (_, score), held in zip(oldest, running, strict=True):
        if not held:
            return round(max(0.0, now_ms - score) / 1000, 2)
    return 0.0


def _jobs_kept(client: Any) -> int:
    """Job records in Redis: the keys besides queues, workers, breakers and a few fixed ones
    are per job (record, events, arq's job), so DBSIZE would do; this counts the records."""
    cursor, count = 0, 0
    while True:
        cursor, found = client.scan(cursor, match="mpc:job:*", count=1000, _type="hash")
        count += len(found)
        if cursor == 0:
            return count


def _after(samples: list[dict[str, Any]], warmup_s: float) -> list[dict[str, Any]]:
    return [s for s in samples if s["t"] >= warmup_s] or samples[-1:]


def _window(
    samples: list[dict[str, Any]], pick: Callable[[dict[str, Any]], float], n: int, *, last: bool
) -> list[float]:
    chosen = samples[-n:] if last else samples[:n]
    return [pick(s) for s in chosen]


def _result(
    samples: list[dict[str, Any]],
    outcomes: list[Outcome],
    jobs: dict[str, Any],
    cpu: dict[str, float],
    warmup_s: float,
    skipped: int,
    smoke: bool,
    idle_mib: float,
) -> BenchResult:
    steady = _after(samples, warmup_s)
    per_minute = max(1, round(60 / max(1.0, steady[1]["t"] - steady[0]["t"]))) if len(steady) > 1 else 1
    rss: dict[str, dict[str, float]] = {}
    for name in samples[0]["rss_mib"]:
        after_warmup = statistics.median(_window(steady, lambda s, n=name: s["rss_mib"][n], per_minute, last=False))
        at_end = max(_window(steady, lambda s, n=name: s["rss_mib"][n], per_minute, last=True))
        rss[name] = {"after_warmup": after_warmup, "end": at_end, "growth": round(at_end / after_warmup - 1, 4)}
    first, last = steady[0], steady[-1]
    used = [s["redis_used_memory_mib"] for s in steady]
    used_median = statistics.median(used)
    used_spread = max(max(used) / used_median - 1, 1 - min(used) / used_median)
    kept_median = statistics.median(s["jobs_kept"] for s in steady)
    per_job_bytes = (used_median - idle_mib) * 2**20 / kept_median if kept_median > 0 else 0.0
    max_age = max(max(s["queue_age_s"].values()) for s in steady)
    age_by_queue = {q: max(s["queue_age_s"][q] for s in steady) for q in steady[0]["queue_age_s"]}
    thirds = max(1, len(steady) // 3)
    errors_first = steady[thirds - 1]["errors"] - steady[0]["errors"]
    errors_last = steady[-1]["errors"] - steady[-thirds]["errors"]
    errors_after_warmup = steady[-1]["errors"] - steady[0]["errors"]
    error_kinds: dict[str, int] = {}
    for o in outcomes:
        if o.error is not None:
            error_kinds[f"{o.kind}: {o.error}"] = error_kinds.get(f"{o.kind}: {o.error}", 0) + 1
    rate = len(outcomes) / samples[-1]["t"]
    jobs_per_s = jobs["acknowledged"] / samples[-1]["t"]
    baseline = round(statistics.mean(r["after_warmup"] for r in rss.values()), 2)
    candidate = round(statistics.mean(r["end"] for r in rss.values()), 2)
    extra: dict[str, Any] = {
        "duration_s": samples[-1]["t"],
        "warmup_s": warmup_s,
        "rate_per_s": RATE,
        "operations": len(outcomes),
        "operations_per_s": round(rate, 2),
        "starts_skipped": skipped,
        "rss_mib": rss,
        "cpu_pct_of_core": cpu,
        "queue_age_max_s": max_age,
        "queue_age_max_s_by_queue": age_by_queue,
        "errors_total": len(outcomes) - sum(1 for o in outcomes if o.error is None),
        "errors_after_warmup": errors_after_warmup,
        "errors_first_third": errors_first,
        "errors_last_third": errors_last,
        "error_kinds": error_kinds,
        "retention": RETENTION,
        "redis_used_memory_mib": {
            "idle": idle_mib,
            "after_warmup": first["redis_used_memory_mib"],
            "median": used_median,
            "min": min(used),
            "max": max(used),
            "end": last["redis_used_memory_mib"],
        },
        "redis_used_memory_spread": round(used_spread, 4),
        "redis_jobs_kept": {"after_warmup": first["jobs_kept"], "median": kept_median, "end": last["jobs_kept"]},
        "redis_bytes_per_job_kept": round(per_job_bytes),
        "redis_mib_at_default_retention": round(jobs_per_s * DEFAULT_RECORD_TTL_H * 3600 * per_job_bytes / 2**20, 1),
        "jobs": jobs,
        "samples": [
            {k: s[k] for k in ("t", "redis_used_memory_mib", "jobs_kept", "errors")} | {"rss_mib": s["rss_mib"]}
            for s in samples[:: max(1, len(samples) // 12)]
        ],
        "smoke": smoke,
    }
    if not smoke:
        extra |= {
            "goal_rss_within_10pct": all(r["growth"] <= RSS_GROWTH_LIMIT - 1 for r in rss.values()),
            "goal_queue_age_bounded": max_age <= QUEUE_AGE_LIMIT_S,
            "goal_no_error_growth": errors_after_warmup == 0 or errors_last <= errors_first,
            "goal_redis_memory_flat_10pct": used_spread <= REDIS_FLAT_LIMIT,
            "goal_jobs_lost_0": jobs["lost"] == 0,
            "goal_jobs_run_twice_0": jobs["run_twice"] == 0,
        }
    return BenchResult(
        scenario="soak",
        baseline=baseline,
        candidate=candidate,
        unit="mean_rss_mib",
        ratio=round(baseline / candidate, 3) if candidate else 0.0,
        extra=extra,
    )
