"""A real LiteLLM proxy in front of the provider emulator, for the chat tests and benchmarks."""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from catalog.litellm_config import DEFAULT_LITELLM_CONFIG
from sandbox.emulator.litellm_config import emulated_config, upstream_models
from sandbox.litellm_proxy import litellm_executable, offline_env, start_litellm
from sandbox.processes import free_port, stop_process


@dataclass(frozen=True)
class LiteLLMProxy:
    base_url: str
    master_key: str
    pid: int
    log: Path
    upstream: dict[str, str]  # LiteLLM model_name (= catalog provider_id) -> model the emulator sees
    start_s: float  # from spawn to a healthy /health/liveliness

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}


def project_litellm_config(emulator_base: str) -> dict[str, Any]:
    """`compose/litellm/config.yaml` with every deployment pointed at the emulator."""
    return emulated_config(yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text()), emulator_base)


@contextmanager
def running_litellm(
    config: Mapping[str, Any], extra_env: Mapping[str, str] | None = None, *, workdir: Path | None = None
) -> Iterator[LiteLLMProxy]:
    """A LiteLLM proxy for `config` with the sandbox's offline environment and `extra_env`
    on top; its config and log in `workdir` (default: a temporary directory)."""
    with ExitStack() as exits:
        if workdir is None:
            workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="mpc-test-litellm-")))
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        log = workdir / "litellm.log"
        master_key = "sk-test-" + secrets.token_hex(8)
        env = {**offline_env(config, master_key), **(extra_env or {})}
        executable = litellm_executable()  # installing is not part of the start-up time
        port = free_port()
        started = time.perf_counter()
        process = start_litellm(path, port, env, log=log, executable=executable)
        start_s = round(time.perf_counter() - started, 2)
        exits.callback(stop_process, process)
        yield LiteLLMProxy(f"http://127.0.0.1:{port}", master_key, process.pid, log, upstream_models(config), start_s)
