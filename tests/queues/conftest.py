from __future__ import annotations

from collections.abc import AsyncIterator

import fakeredis
import pytest
from redis.asyncio import Redis

from queues.redis import connect


@pytest.fixture(params=["redis-server", "fakeredis"])
async def redis(request: pytest.FixtureRequest, clean_redis: str) -> AsyncIterator[Redis]:
    """The real Redis server, and fakeredis: the embedded development default, which must
    run the same Lua scripts (it does so through lupa)."""
    client = connect(clean_redis) if request.param == "redis-server" else fakeredis.FakeAsyncRedis()
    try:
        yield client
    finally:
        await client.aclose()
