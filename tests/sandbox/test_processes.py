"""Starting and stopping children, with real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from sandbox.processes import StartError, free_port, port_answers, stop_process, stop_processes, wait_started

IGNORES_SIGTERM = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
)


def python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_stop_process_ends_a_child_with_sigterm() -> None:
    child = python("import time; print('ready', flush=True); time.sleep(60)")
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    assert stop_process(child) == -signal.SIGTERM


def test_stop_process_kills_a_child_that_ignores_sigterm_after_the_grace() -> None:
    child = python(IGNORES_SIGTERM)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"  # SIGTERM is ignored from here
    assert stop_process(child, grace_s=0.5) == -signal.SIGKILL


def test_stop_processes_leaves_exited_children_alone_and_stops_the_rest() -> None:
    done = python("pass")
    done.wait(timeout=10)
    running = [python("import time; time.sleep(60)") for _ in range(3)]
    stop_processes([done, *running])
    assert done.returncode == 0
    assert [child.returncode for child in running] == [-signal.SIGTERM] * 3


def test_wait_started_names_a_child_that_exits() -> None:
    child = python("raise SystemExit(3)")
    with pytest.raises(StartError, match="the thing exited with code 3 during start-up"):
        wait_started(child, lambda: False, what="the thing", timeout_s=30)


def test_wait_started_stops_a_child_that_never_answers() -> None:
    child = python("import time; time.sleep(60)")
    with pytest.raises(StartError, match="the thing did not start within 0 s"):
        wait_started(child, lambda: False, what="the thing", timeout_s=0.2)
    assert child.poll() is not None


def test_wait_started_returns_once_the_child_answers() -> None:
    port = free_port()
    code = f"import socket, time\ns = socket.create_server(('127.0.0.1', {port}))\ntime.sleep(60)\n"
    child = python(code)
    try:
        wait_started(child, lambda: port_answers(port), what="a listener", timeout_s=30)
        assert port_answers(port)
    finally:
        stop_process(child)


def test_a_free_port_can_be_listened_on() -> None:
    port = free_port()
    assert not port_answers(port)
    with socket.create_server(("127.0.0.1", port)):
        assert port_answers(port)
