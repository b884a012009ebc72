"""Redis connections with explicit timeouts: a dead Redis must fail fast, never hang."""

from __future__ import annotations

from redis.asyncio import Redis

CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 5.0


def connect(url: str, *, socket_timeout: float | None = SOCKET_TIMEOUT_S) -> Redis:
    """A pooled client; `socket_timeout=None` is for blocking reads (XREAD BLOCK, BLPOP)."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        retry_on_timeout=False,
        decode_responses=False,
    )
    return client


def database_of(redis: Redis) -> int:
    """The database number a client talks to (part of the pub/sub channel names), from the
    keyword arguments its connections are made with (redis-py's public accessor)."""
    return int(redis.get_connection_kwargs().get("db", 0))  # type: ignore[no-untyped-call]
