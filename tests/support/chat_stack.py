"""The whole chat chain for real: gateway → Redis → interactive worker → LiteLLM → emulator.

The gateway runs in the test process (uvicorn in a thread), the worker and LiteLLM as child
processes, the emulator in the test process too (the tests set its faults).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from api.app import create_app
from api.connection_guard import server_options
from catalog import Catalog
from queues.settings import Secret, Settings
from sandbox.emulator.client import EmulatorClient
from sandbox.processes import stop_processes
from tests.support.auth import AUTH
from tests.support.litellm import LiteLLMProxy
from tests.support.servers import running_server
from tests.support.workers import LOOPBACK_ALLOW, WorkerProcess

# Short, so a test can see an open breaker close again.
BREAKER_COOL_OFF_S = 2
# Gateway and workers of one stack sign and check artifact links with the same key.
SIGNING_KEY = "stack-artifact-signing-key-0123456789abcdef"


@dataclass(frozen=True)
class Stack:
    base_url: str
    emulator: EmulatorClient
    litellm: LiteLLMProxy
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


@contextmanager
def running_chat_stack(
    litellm: LiteLLMProxy,
    emulator: EmulatorClient,
    settings: Settings,
    catalog: Catalog,
    *,
    queue_classes: Sequence[str] = ("interactive",),
    artifacts_url: str | None = None,
    worker_env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """A gateway and a worker per queue class (running the real handlers) on `settings`'
    Redis, in front of `litellm` and `emulator` (reset first). Gateway and workers share the
    artifact store at `artifacts_url` (default: the settings' own) and its signing key."""
    emulator.reset()
    store_url = artifacts_url or settings.artifacts_url
    worker_settings = {
        "MPC_LITELLM_BASE_URL": litellm.base_url,
        "MPC_LITELLM_API_KEY": litellm.master_key,
        "MPC_BREAKER_COOL_OFF_S": str(BREAKER_COOL_OFF_S),
        "MPC_ARTIFACTS_URL": store_url,
        "MPC_ARTIFACTS_SIGNING_KEY": SIGNING_KEY,
        "MPC_OUTBOUND_ALLOW": LOOPBACK_ALLOW,  # the emulator's media URLs are on loopback
        **(worker_env or {}),
    }
    workers = [
        WorkerProcess(settings.redis_url, queue_class, extra_env=worker_settings, handlers="")
        for queue_class in queue_classes
    ]
    gateway_settings = msgspec.structs.replace(
        settings,
        litellm_base_url=litellm.base_url,
        litellm_api_key=Secret(litellm.master_key),
        artifacts_url=store_url,
        artifacts_signing_key=Secret(SIGNING_KEY),
    )
    try:
        for worker in workers:
            worker.wait_ready()
        with running_server(create_app(gateway_settings, catalog), **server_options(gateway_settings)) as base:
            yield Stack(base, emulator, litellm, catalog, settings.redis_url, gateway_settings)
    finally:
        # In parallel: each worker's shutdown waits on its own in-flight work, not the others'.
        stop_processes([worker.process for worker in workers], grace_s=30)
