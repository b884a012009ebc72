"""The whole chat chain for real: gateway → Redis → interactive worker → LiteLLM → emulator
(the LiteLLM proxy is the session's, from tests/conftest.py, shared with tests/platforms)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog
from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
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
