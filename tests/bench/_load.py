"""A closed-loop HTTP load: N keep-alive connections, each sending its next request when
the previous answer arrived, plus CPU accounting of the server, Redis and this process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import redis

from tests.bench._common import BENCH_REDIS_URL, cpu_seconds, ms, percentile
from tests.bench._rawhttp import read_response


def redis_pid(url: str = BENCH_REDIS_URL) -> int | None:
    client = redis.Redis.from_url(url)
    try:
        info = cast(dict[str, Any], client.info("server"))
        pid = int(info["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}/stat").exists() else None


class CpuWatch:
    """CPU seconds used by some processes (and this one) between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._before: dict[str, float] = {}
        self._wall = 0.0

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._before["load_generator"] = time.process_time()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        used = {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}
        used["load_generator"] = time.process_time() - self._before["load_generator"]
        return {f"{name}_cpu_pct_of_core": round(seconds / wall * 100, 1) for name, seconds in used.items()}


async def http_load(
    base: str,
    server_pid: int,
    n: int,
    *,
    warmup: int,
    request: bytes | Sequence[bytes],
    expect: int,
    concurrency: int = 32,
) -> tuple[float, dict[str, Any]]:
    """`n` requests (after `warmup` untimed ones); with several requests, each connection
    sends them in turn, starting at a different one."""
    host, port = base.removeprefix("http://").split(":")
    requests = [request] if isinstance(request, bytes) else list(request)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def connection(index: int, share: int, record: bool) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in range(share):
                started = time.perf_counter()
                writer.write(requests[(index + i) % len(requests)])
                head, _ = await read_response(reader)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[head.status] = statuses.get(head.status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    async def drive(total: int, record: bool) -> None:
        shares = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(connection(i, share, record) for i, share in enumerate(shares)))

    await drive(warmup, record=False)
    watch = CpuWatch({"server": server_pid, "redis": redis_pid()})
    watch.start()
    started = time.perf_counter()
    await drive(n, record=True)
    elapsed = time.perf_counter() - started
    cpu = watch.stop()
    if statuses.get(expect, 0) != n:
        raise RuntimeError(f"expected {n} answers {expect}, got {statuses}")
    return n / elapsed, {
        "elapsed_s": round(elapsed, 3),
        "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99))},
        **cpu,
    }
