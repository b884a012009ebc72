"""A worker as deployed, `python -m cli worker --queue ...`, as a child process of a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import cast

import redis

from queues import keys
from sandbox.processes import stop_process
from tests.support.processes import REPO
from tests.support.waiting import wait_until

# The job handlers test workers run unless told otherwise (tests/support/handlers.py).
TEST_HANDLERS = "tests.support.handlers"
# MPC_OUTBOUND_ALLOW for workers that fetch from, or deliver to, servers a test runs on
# loopback (the emulator's media URLs, a webhook receiver): the policy refuses loopback otherwise.
LOOPBACK_ALLOW = "localhost,127.0.0.0/8,::1"


class WorkerProcess:
    def __init__(
        self,
        redis_url: str,
        queue_class: str,
        grace_s: int = 5,
        *,
        handlers: str = TEST_HANDLERS,
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

    def heartbeat(self) -> bytes | None:
        """This worker's description in Redis (JSON), while it is counted live."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            marker = f"-{self.pid}-".encode()
            for worker_id in client.zrange(keys.live_workers(self.queue_class), 0, -1):
                if marker in worker_id:
                    return cast(bytes | None, client.get(keys.worker_info(self.queue_class, worker_id.decode())))
            return None
        finally:
            client.close()

    def wait_ready(self, timeout: float = 15) -> None:
        ok = wait_until(lambda: self.heartbeat() is not None, timeout=timeout)
        assert ok, f"worker {self.pid} for {self.queue_class} did not announce itself"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig`, wait up to `timeout` for the worker to end (then kill it); its exit code."""
        return stop_process(self.process, grace_s=timeout, sig=sig)
