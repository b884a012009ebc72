"""Downloading a stored artifact through the gateway, vs Starlette's `FileResponse` of the same file.

A real media worker writes the artifact through the real artifact store (local backend, a
temporary directory): `POST /api/jobs {"task": "tts"}`, run by the handler of
`_artifact_handlers` (a 10 MB WAV, made by the handler: no provider makes 200 MB of audio in
a benchmark's time). Then:

- candidate: `GET /api/jobs/{id}/artifacts/speech.wav` with the API key (the owner check,
  the store's `open`, a streamed 200 with ETag and Content-Length);
- baseline: a bare FastAPI app (`_bare_app --file`, the uvicorn settings the gateway uses)
  serving the artifact's blob file with `FileResponse`, in the same run.

`CONCURRENCY` downloads at a time over keep-alive connections, each body read to its end and
thrown away (the first download of each path is checked against the artifact's sha256).
Rounds alternate baseline / candidate so drift on the shared machine hits both alike. Unit:
MB/s of body (10^6 bytes).

Memory (full run: 200 MB; smoke: 20 MB): a second job writes an artifact of that size in the
worker while its RSS is sampled every 10 ms, then one client downloads it through the gateway
while the gateway's RSS is sampled. Growth = peak during the phase minus RSS just before it
(`VmHWM`, the kernel's own peak, is in `extra` too).

Goals: at least 0.9x FileResponse's rate; gateway and worker RSS grow < 32 MiB.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sandbox.processes import free_port
from tests.bench._artifact_handlers import ARTIFACT_NAME
from tests.bench._chat_stack import ChatStack, chat_stack, vm_rss_kib
from tests.bench._common import AUTH, PYTHON, bench_env, child, flush_redis, ms, percentile, raise_nofile, wait_http_ok
from tests.bench._load import CpuWatch
from tests.bench._rawhttp import read_head, request_bytes
from tests.bench.result import BenchResult, better_ratio

MB = 1_000_000
MIB = 1024 * 1024
CONCURRENCY = 4
GOAL_RATIO = 0.9
GOAL_RSS_GROWTH_MIB = 32.0
READ_SIZE = 1024 * 1024
PATHS = ("file_response", "mpc")


def run(*, smoke: bool) -> BenchResult:
    size, big = (10 * MB, 20 * MB) if smoke else (10 * MB, 200 * MB)
    rounds, per_round = (1, 8) if smoke else (6, 40)
    raise_nofile(1024)
    flush_redis()
    try:
        with chat_stack(
            workers=0, upstream="emulator", media_workers=1, worker_handlers="tests.bench._artifact_handlers"
        ) as stack:
            return _run(stack, size, big, rounds, per_round)
    finally:
        flush_redis()


@dataclass
class Downloads:
    latencies: list[float] = field(default_factory=list)
    body_bytes: int = 0
    elapsed: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.body_bytes / MB / self.elapsed if self.elapsed else 0.0


async def download(
    base: str, request: bytes, n: int, concurrency: int, *, digest: bool = False
) -> tuple[Downloads, list[str]]:
    """`n` GETs over `concurrency` keep-alive connections, each body read to its end; with
    `digest`, the sha256 of each body too."""
    host, port = base.removeprefix("http://").split(":")
    sample = Downloads()
    digests: list[str] = []

    async def connection(share: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port), limit=4 * READ_SIZE)
        try:
            for _ in range(share):
                started = time.perf_counter()
                writer.write(request)
                head = await read_head(reader)
                left = int(head.headers["content-length"])
                hasher = hashlib.sha256() if digest else None
                while left:
                    data = await reader.read(min(left, READ_SIZE))
                    if not data:
                        raise RuntimeError(f"{base}: body ended {left} bytes early")
                    if hasher is not None:
                        hasher.update(data)
                    left -= len(data)
                    sample.body_bytes += len(data)
                sample.latencies.append(time.perf_counter() - started)
                sample.statuses[head.status] = sample.statuses.get(head.status, 0) + 1
                if hasher is not None:
                    digests.append(hasher.hexdigest())
        finally:
            writer.close()
            await writer.wait_closed()

    shares = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(share) for share in shares if share))
    sample.elapsed = time.perf_counter() - started
    return sample, digests


def write_job(stack: ChatStack, size: int) -> dict[str, Any]:
    """Submit the job whose worker writes a `size`-byte artifact; its final record."""
    with httpx.Client(base_url=stack.gateway_url, headers=AUTH, timeout=120) as http:
        response = http.post("/api/jobs", json={"task": "tts", "input": {"text": str(size)}})
        response.raise_for_status()
        job_id = response.json()["id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job: dict[str, Any] = http.get(f"/api/jobs/{job_id}", headers={"Prefer": "wait=30"}).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                if job["status"] != "succeeded":
                    raise RuntimeError(f"the artifact job ended {job['status']}: {job.get('error')}")
                return job
            time.sleep(0.05)
    raise RuntimeError(f"the artifact job {job_id} did not finish in 300 s")


def _blob(stack: ChatStack, job_id: str) -> Path:
    """The artifact's blob file in the local store (what FileResponse serves)."""
    (blob,) = (stack.artifacts_dir / job_id / ARTIFACT_NAME).glob("blob-*")
    return blob


class RssPeak:
    """The highest RSS of some processes, sampled every 10 ms on a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before = {name: vm_rss_kib(pid) for name, pid in pids.items()}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], vm_rss_kib(pid))

    @contextmanager
    def sampling(self) -> Iterator[None]:
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], vm_rss_kib(pid))

    def growth_mib(self) -> dict[str, float]:
        return {name: round((self.peak[name] - self.before[name]) / 1024, 2) for name in self.pids}


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 2)
    return float("nan")


def _run(stack: ChatStack, size: int, big: int, rounds: int, per_round: int) -> BenchResult:
    load_at_start = round(os.getloadavg()[0], 2)
    job = write_job(stack, size)
    (listed,) = job["output"]["artifacts"]
    blob = _blob(stack, job["id"])
    if blob.stat().st_size != size or listed["bytes"] != size:
        raise RuntimeError(f"the artifact has {blob.stat().st_size} bytes, not {size}")
    port = free_port()
    bare_args = [PYTHON, "-m", "tests.bench._bare_app", str(port), "--file", str(blob)]
    with child(bare_args, bench_env()) as bare:
        bare_base = f"http://127.0.0.1:{port}"
        wait_http_ok(bare, f"{bare_base}/health", interval=0.02)
        paths = {
            "file_response": (bare_base, request_bytes("GET", "/file", {}), bare.pid),
            "mpc": (
                stack.gateway_url,
                request_bytes("GET", f"/api/jobs/{job['id']}/artifacts/{ARTIFACT_NAME}", AUTH),
                stack.gateway_pid,
            ),
        }
        for name, (base, request, _) in paths.items():  # warm-up, and the bytes are the artifact's
            warm, digests = asyncio.run(download(base, request, CONCURRENCY, CONCURRENCY, digest=True))
            if warm.statuses != {200: CONCURRENCY} or set(digests) != {listed["sha256"]}:
                raise RuntimeError(f"{name}: statuses {warm.statuses}, sha256 {set(digests)} not {listed['sha256']}")
        samples: dict[str, list[Downloads]] = {name: [] for name in PATHS}
        cpu: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
        for _ in range(rounds):
            for name, (base, request, pid) in paths.items():
                watch = CpuWatch({"server": pid})
                watch.start()
                sample, _ = asyncio.run(download(base, request, per_round, CONCURRENCY))
                cpu[name].append(watch.stop())
                if sample.statuses != {200: per_round}:
                    raise RuntimeError(f"{name}: expected {per_round} answers 200, got {sample.statuses}")
                samples[name].append(sample)
    memory = _memory(stack, big)
    stack.check_alive()

    rates = {
        name: round(sum(s.body_bytes for s in rows) / MB / sum(s.elapsed for s in rows), 1)
        for name, rows in samples.items()
    }
    baseline, candidate = rates["file_response"], rates["mpc"]
    ratio = better_ratio(baseline, candidate, higher_is_better=True)
    worst_growth = max(memory["rss_growth_mib"].values())
    extra: dict[str, Any] = {
        "loadavg_1m_at_start": load_at_start,
        "artifact_bytes": size,
        "concurrency": CONCURRENCY,
        "downloads_per_path": rounds * per_round,
        "rounds": rounds,
        "mb_per_s_per_round": {name: [round(s.mb_per_s, 1) for s in rows] for name, rows in samples.items()},
        "download_ms": {
            name: {
                "p50": ms(percentile([x for s in rows for x in s.latencies], 50)),
                "p99": ms(percentile([x for s in rows for x in s.latencies], 99)),
            }
            for name, rows in samples.items()
        },
        "server_cpu_pct_of_core": {name: _mean(rows) for name, rows in cpu.items()},
        "memory": memory,
        "goal_ratio_ge_0_9": ratio >= GOAL_RATIO,
        "goal_rss_growth_lt_32mib": worst_growth < GOAL_RSS_GROWTH_MIB,
    }
    return BenchResult(
        scenario="artifact_download",
        baseline=baseline,
        candidate=candidate,
        unit="MB_per_s",
        ratio=ratio,
        extra=extra,
    )


def _memory(stack: ChatStack, size: int) -> dict[str, Any]:
    """RSS growth of the worker while it writes a `size`-byte artifact, and of the gateway
    while one client downloads it."""
    worker_pid = stack.media_workers[0].pid
    writing = RssPeak({"worker": worker_pid, "gateway": stack.gateway_pid})
    started = time.perf_counter()
    with writing.sampling():
        job = write_job(stack, size)
    write_s = time.perf_counter() - started
    request = request_bytes("GET", f"/api/jobs/{job['id']}/artifacts/{ARTIFACT_NAME}", AUTH)
    reading = RssPeak({"gateway": stack.gateway_pid, "worker": worker_pid})
    with reading.sampling():
        sample, _ = asyncio.run(download(stack.gateway_url, request, 1, 1))
    if sample.statuses != {200: 1} or sample.body_bytes != size:
        raise RuntimeError(f"the {size}-byte download: {sample.statuses}, {sample.body_bytes} bytes")
    growth = {"worker_writing": writing.growth_mib()["worker"], "gateway_downloading": reading.growth_mib()["gateway"]}
    return {
        "artifact_bytes": size,
        "write_s": round(write_s, 2),
        "download_s": round(sample.elapsed, 2),
        "rss_growth_mib": growth,
        "rss_before_mib": {
            "worker": round(writing.before["worker"] / 1024, 2),
            "gateway": round(reading.before["gateway"] / 1024, 2),
        },
        "vm_hwm_after_mib": {"worker": _hwm_mib(worker_pid), "gateway": _hwm_mib(stack.gateway_pid)},
        "chunk_bytes": {"handler_write": 256 * 1024, "store_read": 256 * 1024, "client_read": READ_SIZE},
        "other_side_growth_mib": {
            "gateway_while_writing": writing.growth_mib()["gateway"],
            "worker_while_downloading": reading.growth_mib()["worker"],
        },
    }


def _mean(rows: list[dict[str, float]]) -> float:
    return round(sum(row["server_cpu_pct_of_core"] for row in rows) / len(rows), 1)
