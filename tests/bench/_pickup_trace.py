"""Where a job's pickup time goes: `python -m tests.bench._pickup_trace [JOBS]`.

Not a scenario (it prints a table, not a BenchResult). It starts a real
`python -m cli worker --queue interactive` with `_pickup_handlers`, records Redis MONITOR
(server-side arrival time of every command, microsecond resolution) while submitting jobs
one at a time, and prints, per step of the pickup path, the time from the previous
command's arrival to this one's, p50 / p90 over the jobs. Each step is one round trip plus
the Python work between the two commands. MONITOR slows Redis a little: read the table for
the shape, and `job_pickup` for the figures.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import msgspec

from queues import keys
from queues.redis import connect
from queues.submit import Submission, submit_job
from sandbox.processes import stop_process
from tests.bench._common import BENCH_REDIS_URL, OWNER, PYTHON, bench_env, child, flush_redis, percentile
from tests.bench._pickup import announced, blpop_time, wait_final, wait_ready
from tests.bench._pickup_handlers import PICKUP_PREFIX

_LINE = re.compile(r'^(?P<t>\d+\.\d+) \[\d+ (?P<client>[^\]]+)\] "(?P<cmd>\w+)"(?P<args>.*)$')
_BENCH_ONLY = {"BLPOP", "XREAD"}  # the benchmark's own waiting, not the worker's work


class Command(msgspec.Struct, frozen=True):
    t: float
    client: str
    cmd: str
    args: str


def _label(command: Command, job_id: str) -> str:
    if command.cmd == "ZRANGEBYSCORE":
        return "ZRANGEBYSCORE queue (poll)"
    args = command.args
    for marker, kind in (
        ("arq:in-progress:", "arq in-progress"),
        ("arq:job:", "arq job"),
        ("arq:retry:", "arq retry"),
        (":cancel", "cancel flag"),
        (":events", "events"),
        (PICKUP_PREFIX, "handler's first write"),
        (keys.job(job_id), "job record"),
    ):
        if marker in args:
            return f"{command.cmd} {kind}"
    return command.cmd


async def _submit_jobs(n: int) -> list[tuple[str, float]]:
    redis = connect(BENCH_REDIS_URL)
    blocking = connect(BENCH_REDIS_URL, socket_timeout=None)
    jobs: list[tuple[str, float]] = []
    try:
        for i in range(n):
            await asyncio.sleep(random.uniform(0, 0.2))
            submission = Submission(
                task="chat_general", queue="interactive", input_json=b"{}", params_json=b"{}", owner=OWNER
            )
            enqueued = time.time()
            record, _ = await submit_job(redis, submission)
            await blpop_time(blocking, PICKUP_PREFIX + record.id)
            await wait_final(blocking, record.id)
            if i:  # the first job also pays for opening connections
                jobs.append((record.id, enqueued))
    finally:
        await redis.aclose()
        await blocking.aclose()
    return jobs


def _parse(path: Path) -> list[Command]:
    commands = []
    for line in path.read_text(errors="replace").splitlines():
        if match := _LINE.match(line):
            commands.append(Command(float(match["t"]), match["client"], match["cmd"], match["args"]))
    return commands


def _steps(commands: list[Command], job_id: str, enqueued: float) -> list[tuple[str, float]]:
    """(label, arrival time) from the submit call to the handler's first write."""
    submit = next(c for c in commands if c.cmd == "ZADD" and job_id in c.args)
    exec_at = next(c.t for c in commands if c.cmd == "EXEC" and c.client == submit.client and c.t >= submit.t)
    steps = [("submit_job called (client clock)", enqueued), ("EXEC of the submit transaction", exec_at)]
    for command in commands:
        if command.t <= exec_at or command.client == submit.client or command.cmd in _BENCH_ONLY:
            continue
        if command.cmd in {"MULTI", "EXEC"} or not (job_id in command.args or command.cmd == "ZRANGEBYSCORE"):
            continue
        if command.cmd == "ZRANGEBYSCORE" and len(steps) > 2:
            continue  # a later poll, after this job's pickup began
        steps.append((_label(command, job_id), command.t))
        if PICKUP_PREFIX in command.args:
            break
    return steps


def main(argv: list[str]) -> int:
    jobs = int(argv[0]) if argv else 40
    redis_cli = shutil.which("redis-cli")
    if redis_cli is None:
        print("redis-cli is needed for MONITOR", file=sys.stderr)
        return 1
    flush_redis()
    env = bench_env(MPC_WORKER_HANDLERS="tests.bench._pickup_handlers")
    with (
        tempfile.TemporaryDirectory(prefix="mpc-trace-") as tmp,
        child([PYTHON, "-m", "cli", "worker", "--queue", "interactive"], env) as worker,
    ):
        client = connect(BENCH_REDIS_URL)
        asyncio.run(wait_ready(worker, lambda: announced(client, worker)))
        time.sleep(1.0)
        trace = Path(tmp) / "monitor.txt"
        with trace.open("wb") as out:
            monitor = subprocess.Popen([redis_cli, "-u", BENCH_REDIS_URL, "monitor"], stdout=out)
            time.sleep(0.3)
            try:
                submitted = asyncio.run(_submit_jobs(jobs + 1))
                time.sleep(0.2)
            finally:
                stop_process(monitor)
        commands = _parse(trace)
    flush_redis()

    gaps: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    totals: list[float] = []
    for job_id, enqueued in submitted:
        steps = _steps(commands, job_id, enqueued)
        for (_, before), (label, at) in pairwise(steps):
            if label not in gaps:
                order.append(label)
            gaps[label].append((at - before) * 1000)
        totals.append((steps[-1][1] - enqueued) * 1000)
    print(f"{len(submitted)} jobs; ms from the previous step's arrival at Redis (first row: client clock)")
    print(f"{'step':48} {'p50':>7} {'p90':>7}  n")
    for label in order:
        values = gaps[label]
        print(f"{label:48} {percentile(values, 50):7.3f} {percentile(values, 90):7.3f}  {len(values)}")
    print(f"{'TOTAL submit_job called → handler write':48} {percentile(totals, 50):7.3f} {percentile(totals, 90):7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
