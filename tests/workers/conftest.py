from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings, hash_api_key
from sandbox.emulator.client import EmulatorClient
from tests.support.auth import AUTH, OTHER_API_KEY, TEST_API_KEY
from tests.support.litellm import LiteLLMProxy
from tests.support.media_stack import MediaStack, running_media_stack
from tests.support.servers import running_server
from tests.support.workers import TEST_HANDLERS, WorkerProcess


@pytest.fixture
def api(settings: Settings, catalog: Catalog) -> Iterator[httpx.Client]:
    """A client of a real gateway (uvicorn in a thread) on the test's Redis."""
    with (
        running_server(create_app(settings, catalog)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as client,
    ):
        yield client


@pytest.fixture
def start_worker(clean_redis: str) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(queue_class: str, *, grace_s: int = 5, wait: bool = True, handlers: str = TEST_HANDLERS) -> WorkerProcess:
        worker = WorkerProcess(clean_redis, queue_class, grace_s, handlers=handlers)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


@pytest.fixture
def media(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> Iterator[MediaStack]:
    """Gateway, an interactive and a media worker, LiteLLM and the emulator; artifacts in tmp_path."""
    with running_media_stack(litellm, emulator, settings, catalog, tmp_path / "artifacts") as stack:
        yield stack


@pytest.fixture(scope="module")
def plans(
    litellm: LiteLLMProxy,
    emulator: EmulatorClient,
    redis_url: str,
    catalog: Catalog,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MediaStack]:
    """The plan tests' stack: gateway, an interactive, a media and a batch worker (real
    handlers), LiteLLM and the emulator, an artifact store of its own. Module-scoped: starting
    workers is most of what a plan test costs, and its tests share no jobs."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    settings = Settings(redis_url=redis_url, api_key_hashes=(hash_api_key(TEST_API_KEY), hash_api_key(OTHER_API_KEY)))
    artifacts = tmp_path_factory.mktemp("plan-artifacts")
    with running_media_stack(
        litellm, emulator, settings, catalog, Path(artifacts), queue_classes=("interactive", "media", "batch")
    ) as stack:
        yield stack


@pytest.fixture
def plan_api(plans: MediaStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=plans.stack.base_url, headers=AUTH, timeout=30) as client:
        yield client
