from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.servers import running_server


@pytest.fixture
def gateway(settings: Settings, catalog: Catalog) -> Iterator[str]:
    """A real uvicorn serving the gateway on loopback, against the real Redis."""
    with running_server(create_app(settings, catalog)) as base_url:
        yield base_url


@pytest.fixture
def client(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, headers=AUTH, timeout=10) as http:
        yield http
