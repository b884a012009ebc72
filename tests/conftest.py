from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from catalog import Catalog, load_catalog
from queues.settings import Settings, hash_api_key
from queues.waiting import install_cancel_safe_wait_for
from sandbox.emulator.client import EmulatorClient
from tests.support.auth import OTHER_API_KEY, TEST_API_KEY
from tests.support.litellm import LiteLLMProxy, project_litellm_config, running_litellm
from tests.support.redis_server import shared_redis_url
from tests.support.servers import running_emulator

# What `cli.main` does in every process it starts, for the gateways tests run in threads.
install_cancel_safe_wait_for()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url, server = shared_redis_url()
    try:
        yield url
    finally:
        if server is not None:
            server.close()


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[str]:
    """A real Redis database emptied before the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield redis_url


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def settings(clean_redis: str) -> Settings:
    return Settings(redis_url=clean_redis, api_key_hashes=(hash_api_key(TEST_API_KEY), hash_api_key(OTHER_API_KEY)))


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorClient]:
    """One provider emulator (real uvicorn on a free loopback port) for the whole session."""
    with running_emulator() as client:
        yield client


@pytest.fixture(scope="session")
def litellm(emulator: EmulatorClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """The real LiteLLM proxy with the project's config in front of the session's emulator,
    started once for every test that needs it (it takes seconds and hundreds of MB)."""
    config = project_litellm_config(emulator.base_url)
    with running_litellm(config, workdir=tmp_path_factory.mktemp("litellm")) as proxy:
        yield proxy
