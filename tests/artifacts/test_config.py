"""From configuration to a store: which URLs name which backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from artifacts import LocalStore, S3Store, StoreConfig, open_store
from artifacts.config import location
from tests.support.artifacts import SIGNING_KEY, MotoServer


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("file:///var/lib/mpc/artifacts", Path("/var/lib/mpc/artifacts")),
        ("file://localhost/data", Path("/data")),
        ("/data/artifacts", Path("/data/artifacts")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/some/prefix/", ("bucket", "some/prefix")),
    ],
)
def test_a_store_url_names_a_directory_or_a_bucket(url: str, where: Path | tuple[str, str]) -> None:
    assert location(url) == where


@pytest.mark.parametrize("url", ["relative/dir", "file://host/data", "file:relative", "s3:///prefix", "http://x/y", ""])
def test_a_store_url_we_cannot_use_stops_start_up(url: str) -> None:
    with pytest.raises(ValueError, match="artifact store URL"):
        StoreConfig(url=url)


async def test_a_local_store_needs_its_signing_key(tmp_path: Path) -> None:
    config = StoreConfig(url=f"file://{tmp_path}", url_ttl_s=60, local_url_base="/files")
    with pytest.raises(ValueError, match="signing key"):
        await open_store(config)
    store = await open_store(config, signing_key=SIGNING_KEY)
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path
    assert (await store.check()).ok


async def test_an_s3_url_opens_a_client_for_that_bucket(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials come from the standard AWS chain, as in production.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = await open_store(StoreConfig(url="s3://mpc-artifacts-test/p", s3_endpoint=moto_server.url))
    try:
        assert isinstance(store, S3Store)
        assert (store.bucket, store.prefix) == ("mpc-artifacts-test", "p/")
    finally:
        await store.aclose()
