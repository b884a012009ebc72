from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox.emulator.client import EmulatorClient
from tests.support import running_emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorClient]:
    """One emulator (real uvicorn on a free loopback port) for the whole session."""
    with running_emulator() as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorClient) -> None:
    emulator.reset()


@pytest.fixture(scope="session")
async def http(emulator: EmulatorClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=5.0) as client:
        yield client
