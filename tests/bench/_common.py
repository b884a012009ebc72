"""Helpers the benchmark scenarios share: processes, Redis db 10, CPU time, percentiles."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import redis

from queues.settings import hash_api_key
from sandbox.processes import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# Benchmarks own db 10 of the machine's Redis and flush it at start.
BENCH_REDIS_URL = os.environ.get("MPC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
BENCH_KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {BENCH_KEY}"}
OWNER = hash_api_key(BENCH_KEY)  # the owner the gateway records for jobs sent with BENCH_KEY
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Child processes keep compiled bytecode here rather than in the source tree, so they start
# as a deployed install would (these machines set PYTHONDONTWRITEBYTECODE=1).
PYCACHE_DIR = Path(tempfile.gettempdir()) / "mpc-bench-pycache"


def flush_redis(url: str = BENCH_REDIS_URL) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def bench_env(*, bytecode_cache: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a gateway or worker process under benchmark."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE_DIR)
    env.update(
        PYTHONPATH=str(REPO),
        MPC_REDIS_URL=BENCH_REDIS_URL,
        MPC_API_KEYS=BENCH_KEY,
        MPC_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class Child:
    """A subprocess whose stderr goes to a temporary file, shown if it fails."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log: IO[bytes]) -> None:
        self._log = log
        self.args = list(args)
        self.process = subprocess.Popen(self.args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{' '.join(self.args)} exited with {self.process.returncode}:\n{self.stderr()}")

    def stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 10) -> None:
        stop_process(self.process, grace_s=timeout)


@contextmanager
def child(args: Sequence[str], env: dict[str, str]) -> Iterator[Child]:
    with tempfile.TemporaryFile(prefix="mpc-bench-") as log:
        proc = Child(args, env, log)
        try:
            yield proc
        finally:
            proc.stop()


def wait_http_ok(child: Child, url: str, *, timeout: float = 30, interval: float = 0.005) -> float:
    """Poll `url` until it answers 200; return time.perf_counter() of that answer."""
    deadline = time.perf_counter() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter()
            except httpx.TransportError:
                pass
            child.check_alive()
            time.sleep(interval)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s:\n{child.stderr()}")


@contextmanager
def gateway(**env: str) -> Iterator[tuple[str, Child]]:
    """`python -m cli serve` on a free port (`env` on top of `bench_env`); yields its base
    URL once /health/live answers."""
    port = free_port()
    with child([PYTHON, "-m", "cli", "serve"], {**bench_env(MPC_PORT=str(port)), **env}) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(proc, f"{base}/health/live", interval=0.02)
        yield base, proc


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads, in nanosecond resolution from
    /proc/<pid>/task/*/schedstat, else user + system from /proc/<pid>/stat (clock ticks)."""
    try:
        return (
            sum(int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
        )
    except (OSError, ValueError, IndexError):
        return _stat_cpu_seconds(pid)


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's reaped children (cutime + cstime in /proc/<pid>/stat): the
    ffmpeg runs of a media worker, say."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / CLK_TCK


def _stat_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ", fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted`; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft
