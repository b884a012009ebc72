"""The behaviour suite's store fixture, sample media made by real encoders, and small stream
helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifacts import ArtifactStore, LocalStore, UrlSigner

SAMPLES = Path(__file__).parent / "samples"
SIGNING_KEY = b"k" * 32
PART = 8 * 1024 * 1024  # larger writes take more than one S3 multipart part


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


WAV = sample("tone.wav")


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.fixture(params=["local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactStore]:
    yield LocalStore(tmp_path / "artifacts", UrlSigner(SIGNING_KEY))


async def raw_contents(store: ArtifactStore) -> list[str]:
    """Everything the backend holds for this store, visible or not: files under a local root."""
    assert isinstance(store, LocalStore)
    if not store.root.exists():
        return []
    return sorted(str(path.relative_to(store.root)) for path in store.root.rglob("*") if path.is_file())
