"""The gateway as deployed, `python -m cli serve`, as a child process of a test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from sandbox.processes import stop_process, wait_started

REPO = Path(__file__).resolve().parents[2]
GATEWAY_START_TIMEOUT_S = 20.0


def answers_ok(url: str) -> bool:
    """Whether a GET of `url` is answered 200 now (no answer at all is False)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def gateway_process(env: Mapping[str, str], *, log: Path | None = None) -> Iterator[str]:
    """`python -m cli serve` with exactly `env` (which sets MPC_PORT), stderr to `log`;
    yields its base URL once /health/live answers, and stops it after the block."""
    base = f"http://127.0.0.1:{env['MPC_PORT']}"
    with open(log or "/dev/null", "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=REPO, env=dict(env), stderr=stderr)
    try:
        wait_started(
            process, lambda: answers_ok(f"{base}/health/live"), what="the gateway", timeout_s=GATEWAY_START_TIMEOUT_S
        )
        yield base
    finally:
        stop_process(process)
