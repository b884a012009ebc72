"""The gateway's count of live workers, with a real worker process starting and stopping."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from tests.support.servers import running_server
from tests.support.workers import WorkerProcess


@pytest.fixture
def gateway(settings: Settings, catalog: Catalog) -> Iterator[str]:
    with running_server(create_app(settings, catalog)) as base:
        yield base


def _workers(gateway: str) -> dict[str, int]:
    check: dict[str, int] = httpx.get(f"{gateway}/health", timeout=10).json()["checks"]["workers"]["data"]
    return check


def test_health_counts_a_running_worker_and_drops_one_that_stopped(
    gateway: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("batch")  # returns once the worker has announced itself
    assert _workers(gateway) == {"interactive": 0, "batch": 1, "media": 0}
    worker.stop()
    # A clean stop withdraws the worker before the process exits: no waiting for its TTL.
    assert _workers(gateway) == {"interactive": 0, "batch": 0, "media": 0}
