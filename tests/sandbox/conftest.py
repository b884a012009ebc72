from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox.emulator.client import EmulatorClient


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorClient) -> None:
    emulator.reset()


@pytest.fixture(scope="session")
async def http(emulator: EmulatorClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=5.0) as client:
        yield client
