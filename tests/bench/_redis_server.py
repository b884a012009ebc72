"""A `redis-server` of the benchmark's own on a free loopback port, with AOF on, that it can
crash (kill -9) and start again on the same port and data directory.

The chaos and soak scenarios cannot use the machine's shared Redis: they restart theirs,
and they read server-wide figures (INFO commandstats, used_memory) that other sessions'
work on the shared server would skew.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, cast

import redis

from sandbox.processes import free_port, port_answers, stop_process, wait_started

Fsync = Literal["always", "everysec", "no"]
START_TIMEOUT_S = 30.0


class OwnRedis:
    """`redis-server --appendonly yes --appendfsync <fsync>` in a temporary directory."""

    def __init__(self, *, fsync: Fsync = "always") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (tests/scripts/ensure-tools.sh installs it)")
        self.binary = binary
        self.fsync = fsync
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="mpc-bench-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> float:
        """Start (or start again) and wait until it answers PING with its data loaded;
        return the seconds that took."""
        started = time.perf_counter()
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self._dir.name]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", self.fsync, "--protected-mode", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_started(self.process, self._loaded, what="benchmark redis-server", timeout_s=START_TIMEOUT_S)
        return time.perf_counter() - started

    def _loaded(self) -> bool:
        if not port_answers(self.port):
            return False
        client = self.client()
        try:
            return bool(client.ping()) and int(cast(dict[str, Any], client.info("persistence"))["loading"]) == 0
        except redis.RedisError:
            return False  # LOADING while it replays the AOF
        finally:
            client.close()

    def crash(self) -> None:
        """kill -9: no final fsync, no goodbye to the clients."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def info(self, section: str) -> dict[str, Any]:
        client = self.client()
        try:
            return cast(dict[str, Any], client.info(section))
        finally:
            client.close()

    def aof_bytes(self) -> int:
        return sum(p.stat().st_size for p in Path(self._dir.name).rglob("*.aof") if p.is_file())

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace_s=5)
        self._dir.cleanup()

    def __enter__(self) -> OwnRedis:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
