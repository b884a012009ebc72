from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox.emulator.client import EmulatorClient
from tests.support.litellm import LiteLLMProxy, project_litellm_config, running_litellm


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorClient) -> None:
    emulator.reset()


@pytest.fixture(scope="session")
async def http(emulator: EmulatorClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=5.0) as client:
        yield client


@pytest.fixture(scope="session")
def litellm(emulator: EmulatorClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """The real LiteLLM proxy with the project's config, in front of the session's emulator
    (started once: it takes ~15 s)."""
    config = project_litellm_config(emulator.base_url)
    with running_litellm(config, workdir=tmp_path_factory.mktemp("litellm")) as proxy:
        yield proxy
