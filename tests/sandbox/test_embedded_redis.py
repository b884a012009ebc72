"""The dev stack's Redis, both kinds: it answers, and `stop()` ends it."""

from __future__ import annotations

import shutil

import pytest
import redis

from sandbox.embedded_redis import start_embedded_redis


@pytest.mark.parametrize("prefer_fake", [False, True], ids=["redis-server", "fakeredis"])
def test_embedded_redis_answers_until_stopped(prefer_fake: bool) -> None:
    if not prefer_fake and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    embedded = start_embedded_redis(prefer_fake=prefer_fake)
    assert embedded.kind == ("fakeredis" if prefer_fake else "redis-server")
    client = redis.Redis.from_url(embedded.url, socket_timeout=2)
    try:
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        client.close()
        embedded.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(embedded.url, socket_timeout=2).ping()
