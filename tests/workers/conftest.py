from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from queues import keys

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(
        self,
        redis_url: str,
        queue_class: str,
        grace_s: int = 5,
        *,
        handlers: str = "tests.workers.handlers",
        extra_env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        env = dict(os.environ)
        env.update(
            MPC_REDIS_URL=redis_url,
            MPC_WORKER_HANDLERS=handlers,
            MPC_WORKER_SHUTDOWN_GRACE_S=str(grace_s),
            MPC_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO),
        )
        env.update(extra_env or {})
        self.queue_class = queue_class
        self.redis_url = redis_url
        stderr = open(log, "wb") if log is not None else None  # noqa: SIM115 - the child owns it
        command = [sys.executable, "-m", "cli", "worker", "--queue", queue_class]
        self.process = subprocess.Popen(command, env=env, cwd=REPO, stderr=stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 15) -> None:
        from tests.support import wait_until

        client = redis.Redis.from_url(self.redis_url)
        live = keys.live_workers(self.queue_class)
        try:
            ok = wait_until(
                lambda: any(f"-{self.pid}-".encode() in w for w in client.zrange(live, 0, -1)), timeout=timeout
            )
        finally:
            client.close()
        assert ok, f"worker {self.pid} for {self.queue_class} did not announce itself"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_worker(clean_redis: str) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(queue_class: str, *, grace_s: int = 5, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(clean_redis, queue_class, grace_s)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)
