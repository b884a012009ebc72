from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.servers import running_server
from tests.support.webhooks import Receiver
from tests.support.workers import LOOPBACK_ALLOW, WorkerProcess


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    # Answers a test holds (a receiver that hangs) are not waited for when it ends.
    with running_server(found.app, timeout_graceful_shutdown=1) as base:
        yield found, base


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    """The test gateway, which accepts webhook URLs on loopback (as `mpc-api dev` does)."""
    return msgspec.structs.replace(settings, outbound_allow=tuple(LOOPBACK_ALLOW.split(",")))


@pytest.fixture
def api(gateway_settings: Settings, catalog: Catalog) -> Iterator[httpx.Client]:
    with (
        running_server(create_app(gateway_settings, catalog)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as client,
    ):
        yield client


@pytest.fixture
def start_worker(clean_redis: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Workers running tests/support/handlers.py; with `allow`, they may deliver to loopback."""
    started: list[WorkerProcess] = []

    def start(queue_class: str, *, allow: bool = True, log: Path | None = None) -> WorkerProcess:
        env = {"MPC_LOG_LEVEL": "INFO"}
        if allow:
            env["MPC_OUTBOUND_ALLOW"] = LOOPBACK_ALLOW
        worker = WorkerProcess(clean_redis, queue_class, extra_env=env, log=log)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)
