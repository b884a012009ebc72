"""The whole chat chain for real: gateway → Redis → interactive worker → LiteLLM → emulator
(the LiteLLM proxy is the session's, from tests/conftest.py, shared with tests/platforms)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from catalog import Catalog
from queues.settings import Settings, hash_api_key
from sandbox.emulator.client import EmulatorClient
from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack, running_chat_stack
from tests.support.litellm import LiteLLMProxy


@pytest.fixture
def stack(litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, catalog: Catalog) -> Iterator[Stack]:
    with running_chat_stack(litellm, emulator, settings, catalog) as chat:
        yield chat


@pytest.fixture
def media_stack(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> Iterator[Stack]:
    """The chat stack with a media worker and an artifact store shared by gateway and workers."""
    with running_chat_stack(
        litellm,
        emulator,
        settings,
        catalog,
        queue_classes=("interactive", "media"),
        artifacts_url=(tmp_path / "artifacts").as_uri(),
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def module_stack(litellm: LiteLLMProxy, emulator: EmulatorClient, redis_url: str, catalog: Catalog) -> Iterator[Stack]:
    """One chat stack for a whole module of read-only tests (each one starts a worker
    process: per test that would cost seconds). Its Redis database is emptied once, at the
    start; the tests must not leave faults set on the emulator."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    settings = Settings(redis_url=redis_url, api_key_hashes=(hash_api_key(TEST_API_KEY),))
    with running_chat_stack(litellm, emulator, settings, catalog) as chat:
        yield chat
