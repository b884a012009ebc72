from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from api.app import create_app
from catalog import Catalog
from queues.settings import Secret, Settings
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


# Small, so a test can cross it with a few kilobytes.
UPLOAD_CAP = 4096
MEDIA_SIGNING_KEY = "media-test-signing-key-0123456789abcdef"


@pytest.fixture
def media_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test's settings with an artifact store of its own (a real directory) and a small upload cap."""
    return msgspec.structs.replace(
        settings,
        artifacts_url=(tmp_path / "artifacts").as_uri(),
        artifacts_signing_key=Secret(MEDIA_SIGNING_KEY),
        max_upload_bytes=UPLOAD_CAP,
    )


@pytest.fixture
def media_gateway(media_settings: Settings, catalog: Catalog) -> Iterator[str]:
    with running_server(create_app(media_settings, catalog)) as base_url:
        yield base_url


@pytest.fixture
def media_client(media_gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=media_gateway, headers=AUTH, timeout=10) as http:
        yield http
