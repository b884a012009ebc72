"""The development default Redis: a real `redis-server` when one is installed, otherwise
fakeredis's in-process Redis-protocol server. Never used by tests that need a real server."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.processes import free_port, port_answers, stop_process, wait_started

START_TIMEOUT_S = 10.0


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
        if self._process is not None:
            stop_process(self._process, grace_s=5)
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
        wait_started(process, lambda: port_answers(port), what="embedded redis-server", timeout_s=START_TIMEOUT_S)
        return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", kind="redis-server", _process=process, _tmp=tmp)
    from fakeredis import TcpFakeServer  # imported lazily: only the fallback needs it

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    wait_started(None, lambda: port_answers(port), what="embedded fakeredis", timeout_s=START_TIMEOUT_S)
    return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", kind="fakeredis", _server=server, _thread=thread)
