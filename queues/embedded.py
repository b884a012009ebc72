"""The development default Redis: a real `redis-server` when one is installed, otherwise
fakeredis's in-process Redis-protocol server. Never used by tests that need a real server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    """A Redis started for the dev stack; `stop()` ends it and removes its files."""

    url: str
    kind: str  # "redis-server" or "fakeredis"
    _process: subprocess.Popen[bytes] | None = None
    _server: Any = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()


def start_embedded_redis(*, prefer_fake: bool = False) -> EmbeddedRedis:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary and not prefer_fake:
        tmp = tempfile.TemporaryDirectory(prefix="mpc-redis-")
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port)
        return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", kind="redis-server", _process=process, _tmp=tmp)
    from fakeredis import TcpFakeServer  # imported lazily: only the fallback needs it

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    _wait_for_port(port)
    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", kind="fakeredis", _server=server, _thread=thread)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_answers("127.0.0.1", port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"embedded Redis did not start on port {port} within {timeout:.0f} s")
