"""A Sentinel-guarded Redis of a test's own: a primary, replicas and three sentinels, each a
real Debian `redis-server` / `redis-sentinel` process on a free loopback port."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from sandbox.processes import free_port, port_answers, stop_process, wait_started
from tests.support.waiting import wait_until

SERVICE = "mpc"
# A primary that has not answered for this long is down in a sentinel's eyes; two of the
# three sentinels must agree (the quorum) before one of them fails it over.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelCluster:
    def __init__(self, replicas: int = 2, sentinels: int = 3) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self._server = server
        # Debian's redis-sentinel package; `redis-server --sentinel` is the same program.
        sentinel = shutil.which("redis-sentinel")
        self._sentinel_command = [sentinel] if sentinel else [server, "--sentinel"]
        self._dir = tempfile.TemporaryDirectory(prefix="mpc-test-sentinel-")
        self.data_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        nodes = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url = f"redis+sentinel://{nodes}/{SERVICE}/0"

    def start(self) -> None:
        primary, *replicas = self.data_ports
        self._start_server(primary)
        for port in replicas:
            self._start_server(port, "--replicaof", "127.0.0.1", str(primary))
        for port in self.sentinel_ports:
            self._start_sentinel(port, primary)
        assert wait_until(lambda: self.connected_replicas() == len(replicas), timeout=15), "replicas did not sync"
        assert wait_until(self._sentinels_see_everything, timeout=15), "sentinels did not find each other"

    def _start_server(self, port: int, *extra: str) -> None:
        workdir = Path(self._dir.name) / str(port)
        workdir.mkdir(exist_ok=True)
        command = [
            self._server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            *extra,
        ]
        self._processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_started(self._processes[port], lambda: port_answers(port), what="redis-server", timeout_s=10)

    def _start_sentinel(self, port: int, primary: int) -> None:
        config = Path(self._dir.name) / f"sentinel-{port}.conf"  # sentinels rewrite their config
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self._dir.name}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        process = subprocess.Popen(
            [*self._sentinel_command, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._processes[port] = process
        wait_started(process, lambda: port_answers(port), what="redis-sentinel", timeout_s=10)

    def _sentinels_see_everything(self) -> bool:
        for port in self.sentinel_ports:
            with redis.Redis(port=port, socket_timeout=2) as client:
                info = client.execute_command("SENTINEL", "MASTER", SERVICE)
                fields = dict(zip(info[::2], info[1::2], strict=True))
                others = int(fields[b"num-other-sentinels"])
                known = int(fields[b"num-slaves"])
            if others < len(self.sentinel_ports) - 1 or known < len(self.data_ports) - 1:
                return False
        return True

    def primary_port(self) -> int:
        """The port of the primary the sentinels name now."""
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=2) as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def primary(self) -> redis.Redis:
        return redis.Redis(port=self.primary_port(), socket_timeout=5)

    def connected_replicas(self) -> int:
        with self.primary() as client:
            return int(client.info("replication")["connected_slaves"])

    def kill_primary(self) -> int:
        """kill -9 the current primary; its port."""
        port = self.primary_port()
        self._processes[port].send_signal(signal.SIGKILL)
        self._processes[port].wait(timeout=10)
        return port

    def wait_promotion(self, old_port: int, timeout: float = 20.0) -> float:
        """Wait until every sentinel names another primary than `old_port`, and that primary
        says it is one; the time (time.time()) when that was first seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._named_by(port) not in (None, old_port) for port in self.sentinel_ports):
                with self.primary() as client:
                    if client.info("replication")["role"] == "master":
                        return time.time()
            time.sleep(0.05)
        raise AssertionError(f"no sentinel promoted a replica within {timeout} s")

    def _named_by(self, sentinel_port: int) -> int | None:
        try:
            with redis.Redis(port=sentinel_port, socket_timeout=1) as client:
                _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        except redis.RedisError:
            return None
        return int(port)

    def close(self) -> None:
        for process in self._processes.values():
            stop_process(process, grace_s=5)
        self._processes.clear()
        self._dir.cleanup()
