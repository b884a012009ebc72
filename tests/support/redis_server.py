"""The session's Redis, and a `redis-server` of a test's own (for outage tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from sandbox.processes import free_port, port_answers, stop_process, wait_started

# Tests flush this database of the machine's Redis unless MPC_TEST_REDIS_URL names another.
DEFAULT_TEST_DB = 9


class RedisServer:
    """A `redis-server` of a test's own, on its own port: it can be stopped and started again."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="mpc-test-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_started(self._process, lambda: port_answers(self.port), what="redis-server", timeout_s=10)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
        self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def shared_redis_url() -> tuple[str, RedisServer | None]:
    """MPC_TEST_REDIS_URL, else the machine's Redis at 127.0.0.1:6379 (db 9, flushed by
    tests) or, if none answers, a redis-server started for this test session."""
    url = os.environ.get("MPC_TEST_REDIS_URL")
    if url:
        return url, None
    if port_answers(6379):
        return f"redis://127.0.0.1:6379/{DEFAULT_TEST_DB}", None
    server = RedisServer()
    server.start()
    return server.url, server
