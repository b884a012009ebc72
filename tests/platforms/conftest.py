"""One whole stack for every platform test: gateway → Redis → interactive and media workers →
the session's LiteLLM → emulator, started once for the package (each platform's client is
what changes from test to test, not the gateway)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from catalog import Catalog
from queues.settings import Settings, hash_api_key
from sandbox.emulator.client import EmulatorClient
from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack, running_chat_stack
from tests.support.litellm import LiteLLMProxy


@pytest.fixture(scope="package")
def platform_stack(
    litellm: LiteLLMProxy,
    emulator: EmulatorClient,
    redis_url: str,
    catalog: Catalog,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    settings = Settings(redis_url=redis_url, api_key_hashes=(hash_api_key(TEST_API_KEY),))
    with running_chat_stack(
        litellm,
        emulator,
        settings,
        catalog,
        queue_classes=("interactive", "media"),
        artifacts_url=tmp_path_factory.mktemp("platform-artifacts").as_uri(),
    ) as stack:
        yield stack


@pytest.fixture
def stack(platform_stack: Stack) -> Stack:
    """The package's stack with the emulator's faults cleared (a test may set some)."""
    platform_stack.emulator.reset()
    return platform_stack
