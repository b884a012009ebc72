"""Child processes of the sandbox (and of the tests and benchmarks that start the same
kinds of process): a free port, waiting for a child to answer, stopping children."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any


class StartError(RuntimeError):
    """A child did not start: it exited, or did not answer in time."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_started(
    process: subprocess.Popen[Any] | None,
    ready: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.05,
) -> None:
    """Poll `ready` until it is true. If `process` (the child that should become ready, if
    there is one) exits first or `timeout_s` passes, stop it and raise StartError naming
    `what`: a child that never started must not outlive the attempt."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process is not None and process.poll() is not None:
            raise StartError(f"{what} exited with code {process.returncode} during start-up")
        if time.monotonic() > deadline:
            if process is not None:
                stop_process(process)
            raise StartError(f"{what} did not start within {timeout_s:.0f} s")
        time.sleep(interval_s)


def stop_processes(
    processes: Iterable[subprocess.Popen[Any]], grace_s: float = 10.0, sig: int = signal.SIGTERM
) -> None:
    """Send `sig` to every child still running, then wait for them all against one deadline
    (they shut down in parallel); one still running after `grace_s` is killed."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(sig)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_process(process: subprocess.Popen[Any], grace_s: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Stop one child as `stop_processes` does; return its exit code."""
    stop_processes([process], grace_s, sig)
    code: int = process.returncode
    return code
