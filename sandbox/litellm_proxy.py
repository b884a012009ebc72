"""Starting a LiteLLM proxy as a child process, for `mpc-api dev`, the tests and the benchmarks.

LiteLLM lives in its own virtual environment (compose/litellm/install.sh); MPC-API never
imports it and only runs its `litellm` executable.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from catalog.litellm_config import env_references
from sandbox.emulator.litellm_config import proxy_env
from sandbox.processes import StartError, wait_started

INSTALL_SCRIPT = Path(__file__).resolve().parents[1] / "compose" / "litellm" / "install.sh"
# ~12 s on a quiet machine; 40-90 s and more measured on two cores shared with several test
# suites (their LiteLLMs starting too). A bound for giving up, not a wait when it starts.
START_TIMEOUT_S = 240.0

# Environment that keeps a LiteLLM proxy from reaching out at start-up or per request:
# without these it fetches its price map and tries to download Hugging Face tokenizers
# (each try waiting on DNS), which offline costs seconds per call.
QUIET_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_MODE": "PRODUCTION",  # do not load a .env file on import
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_SCHEMA_UPDATE": "True",
}

# LiteLLM's own knob for `gc.set_threshold` (gen0,gen1,gen2), also set in compose. With
# CPython's 700,10,10 its heap of millions of objects gets collections that stall every
# stream it relays: they are its TTFT tail (max 606-848 ms where p50 is ~72 ms). Measured
# by `python -m tests.bench litellm_gc` against the default, 15,800 requests each: TTFT
# p99 94 vs 104-186 ms, max 298 vs 606 ms, RSS levelled off 1.5 % above the default's,
# 5 % less CPU per request. 50000,100,10 and 50000,100,1000 cut the tail as much but their
# RSS kept growing (~3 MiB per 1,000 requests): garbage waited in gen1 too long.
LITELLM_GC_THRESHOLD = "50000,10,10"

# What the offline sandbox gives LiteLLM for each provider key its config reads.
PLACEHOLDER_KEY = "sandbox-no-key"


def offline_env(config: Mapping[str, Any], master_key: str) -> dict[str, str]:
    """The environment of a proxy in front of the emulator: a placeholder for every variable
    `config` (the emulated one) reads (the emulator takes any key), `master_key`, QUIET_ENV,
    and what the emulator needs beyond api_base (GEMINI_API_BASE, `proxy_env`)."""
    env = {name: PLACEHOLDER_KEY for name in env_references(config)}
    return {**env, **QUIET_ENV, **proxy_env(config), "LITELLM_MASTER_KEY": master_key}


def litellm_executable() -> Path:
    """Install (idempotent, hash-checked) if needed, and return the `litellm` executable."""
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StartError(f"installing LiteLLM failed:\n{result.stderr[-2000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def start_litellm(
    config: Path,
    port: int,
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    executable: Path | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """Start the proxy on 127.0.0.1:`port` and wait until `/health/liveliness` answers
    (at most `timeout_s`). `PYTHON_GC_THRESHOLD` is LITELLM_GC_THRESHOLD unless the
    environment or `env` sets it."""
    exe = executable or litellm_executable()
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env={"PYTHON_GC_THRESHOLD": LITELLM_GC_THRESHOLD, **os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> bool:
        try:
            return client.get(f"http://127.0.0.1:{port}/health/liveliness").status_code == 200
        except httpx.TransportError:
            return False

    with httpx.Client(timeout=1.0) as client:
        wait_started(process, healthy, what=f"LiteLLM (log: {log})", timeout_s=timeout_s, interval_s=0.2)
    return process
