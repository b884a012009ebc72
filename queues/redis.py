"""Redis connections with explicit timeouts: a dead Redis must fail fast, never hang.

Every client the gateway and the workers open is made here, from `MPC_REDIS_URL` as
`queues.redis_url` reads it: one server (plain, TLS, unix socket) or the primary that
Sentinel names. A Sentinel-managed client asks the sentinels for the primary on every new
connection, so after a failover the next command (after one failed with a connection error)
goes to the new primary: no restart, no address to change.

A client also carries how a job's submission must be acknowledged (`ReplicaAcks`), so
that every path that submits a job through it honours the same guarantee
(`queues.replication`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from queues.redis_url import parse_sentinel_url, uses_sentinel

CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 5.0

R = TypeVar("R", bound=Redis)

# What a command raises while Redis is unreachable for a while (down, restarting, loading,
# failing over: a demoted primary answers read-only until its clients move on). Sentinel's
# "no primary known" (MasterNotFoundError) is a ConnectionError.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)


@dataclass(frozen=True, slots=True)
class ReplicaAcks:
    """How many replicas must confirm a job's submission (Redis `WAIT`), and for how long
    the gateway waits for them before it answers 503 instead of 202."""

    replicas: int = 0
    timeout_ms: int = 0


NO_REPLICA_ACKS = ReplicaAcks()


class Client(Redis):
    """redis-py's asyncio client, with the acknowledgement its job submissions need."""

    replica_acks: ReplicaAcks = NO_REPLICA_ACKS


def connect(
    url: str,
    *,
    socket_timeout: float | None = SOCKET_TIMEOUT_S,
    replica_acks: ReplicaAcks = NO_REPLICA_ACKS,
) -> Client:
    """A pooled client; `socket_timeout=None` is for blocking reads (XREAD BLOCK, BLPOP)."""
    client = connect_as(Client, url, socket_timeout=socket_timeout)
    client.replica_acks = replica_acks
    return client


def connect_as(client_class: type[R], url: str, *, socket_timeout: float | None = SOCKET_TIMEOUT_S) -> R:
    """`connect` for another client class (arq's `ArqRedis`, for the worker's own pool)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
        "retry_on_timeout": False,
        "decode_responses": False,
    }
    pool = _sentinel_pool(url, options) if uses_sentinel(url) else ConnectionPool.from_url(url, **options)
    return cast(R, client_class.from_pool(pool))


def _sentinel_pool(url: str, options: dict[str, Any]) -> ConnectionPool:
    target = parse_sentinel_url(url)
    tls: dict[str, Any] = {"ssl": True} if target.tls else {}
    extra = dict(target.options)
    # The sentinels are asked only short questions: a blocking client's missing timeout
    # must not let a dead sentinel hang its lookup of the primary.
    sentinel_options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        **tls,
        **extra,
    }
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    primary = sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        **options,
        **tls,
        **extra,
    )
    pool: ConnectionPool = primary.connection_pool
    return pool


def database_of(redis: Redis) -> int:
    """The database number a client talks to (part of the pub/sub channel names), from the
    keyword arguments its connections are made with (redis-py's public accessor)."""
    return int(redis.get_connection_kwargs().get("db", 0))  # type: ignore[no-untyped-call]
