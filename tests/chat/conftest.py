"""The whole chat chain for real: gateway → Redis → interactive worker → LiteLLM → emulator."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.app import create_app
from catalog import Catalog
from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, env_references
from queues.settings import Secret, Settings
from sandbox.emulator.client import EmulatorClient
from sandbox.emulator.litellm_config import emulated_config
from sandbox.litellm_proxy import QUIET_ENV, start_litellm
from sandbox.processes import free_port, stop_process
from tests.support import AUTH, running_emulator, running_server
from tests.workers.conftest import WorkerProcess


@dataclass(frozen=True)
class LiteLLM:
    base_url: str
    master_key: str
    upstream: dict[str, str]  # catalog provider_id -> model name as it reaches the provider


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorClient]:
    with running_emulator() as client:
        yield client


@pytest.fixture(scope="session")
def litellm(emulator: EmulatorClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLM]:
    raw = yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text())
    workdir = tmp_path_factory.mktemp("litellm")
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(emulated_config(raw, emulator.base_url)))
    master_key = "sk-test-" + secrets.token_hex(8)
    env = {name: f"dummy-{name.lower()}" for name in env_references(raw)}
    env.update(QUIET_ENV, LITELLM_MASTER_KEY=master_key)
    port = free_port()
    process = start_litellm(config, port, env, log=workdir / "litellm.log")
    upstream = {e["model_name"]: e["litellm_params"]["model"].split("/", 1)[1] for e in raw["model_list"]}
    try:
        yield LiteLLM(base_url=f"http://127.0.0.1:{port}", master_key=master_key, upstream=upstream)
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Stack:
    base_url: str
    emulator: EmulatorClient
    litellm: LiteLLM
    catalog: Catalog
    redis_url: str
    settings: Settings  # the gateway's

    def upstream_name(self, model_id: str) -> str:
        """The model name the emulator sees for a catalog model (for its fault controls)."""
        return self.litellm.upstream[self.catalog.models[model_id].provider_id]

    def chain(self, **select: Any) -> list[str]:
        with httpx.Client(base_url=self.base_url, headers=AUTH) as client:
            body = client.post("/api/select-model", json=select).json()
        return [body["model"]["id"], *(f["id"] for f in body["fallbacks"])]


@pytest.fixture
def stack(
    litellm: LiteLLM, emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> Iterator[Stack]:
    emulator.reset()
    worker_settings = {
        "MPC_LITELLM_BASE_URL": litellm.base_url,
        "MPC_LITELLM_API_KEY": litellm.master_key,
        "MPC_BREAKER_COOL_OFF_S": "2",
    }
    worker = WorkerProcess(settings.redis_url, "interactive", extra_env=worker_settings, handlers="")
    gateway_settings = Settings(
        redis_url=settings.redis_url,
        api_key_hashes=settings.api_key_hashes,
        litellm_base_url=litellm.base_url,
        litellm_api_key=Secret(litellm.master_key),
    )
    try:
        worker.wait_ready()
        with running_server(create_app(gateway_settings, catalog)) as base:
            yield Stack(base, emulator, litellm, catalog, settings.redis_url, gateway_settings)
    finally:
        worker.stop()
