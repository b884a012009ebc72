"""Both backends for one behaviour suite: a real directory (tmp_path) and a real S3-compatible
server (tests/support/artifacts.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from artifacts import ArtifactStore, LocalStore, UrlSigner
from tests.support.artifacts import SIGNING_KEY, MotoServer, connect_s3


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "artifacts", UrlSigner(SIGNING_KEY))
        return
    # Looked up only here, so a run of local tests alone starts no S3 server.
    s3 = await connect_s3(request.getfixturevalue("moto_server").url)
    try:
        yield s3
    finally:
        await s3.aclose()
