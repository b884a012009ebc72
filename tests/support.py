"""Shared test helpers: a real Redis, a real uvicorn server in a thread, free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from sandbox.emulator.app import create_emulator
from sandbox.emulator.client import EmulatorClient
from sandbox.processes import free_port, port_answers

TEST_API_KEY = "test-key-0123456789abcdef"
OTHER_API_KEY = "other-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
OTHER_AUTH = {"Authorization": f"Bearer {OTHER_API_KEY}"}


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class RedisServer:
    """A `redis-server` of a test's own, on its own port (for outage tests)."""

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
        if not wait_until(lambda: port_answers(self.port), timeout=10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def shared_redis_url() -> tuple[str, RedisServer | None]:
    """The machine's Redis at 127.0.0.1:6379 (db 9, flushed by tests) or, if none answers,
    a redis-server started for this test session."""
    url = os.environ.get("MPC_TEST_REDIS_URL")
    if url:
        return url, None
    if port_answers(6379):
        return "redis://127.0.0.1:6379/9", None
    server = RedisServer()
    server.start()
    return server.url, server


@contextmanager
def running_server(app: Any, port: int | None = None, *, root_path: str = "") -> Iterator[str]:
    """Serve an ASGI app with real uvicorn on loopback in a background thread (`root_path`:
    as behind a proxy that mounts it under that prefix)."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False, root_path=root_path
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        if not wait_until(lambda: server.started, timeout=10):
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_emulator(port: int | None = None) -> Iterator[EmulatorClient]:
    """Serve a fresh provider emulator with real uvicorn on loopback for the block's duration."""
    with running_server(create_emulator(), port=port) as base_url, EmulatorClient(base_url) as client:
        yield client
