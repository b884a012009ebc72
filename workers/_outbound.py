"""HTTP clients for URLs someone else chose, that connect only where `queues.outbound` allows.

The check happens where the connection is made: httpcore asks its network backend to
connect to (host, port), and this backend resolves the host itself (`loop.getaddrinfo`),
checks every address the name resolves to, and connects to one of those checked
addresses. There is no second lookup a DNS server could answer differently (rebinding), and
no URL rewriting: TLS still sends the host name as SNI and verifies the certificate for it,
the Host header is the URL's, and pooled connections are keyed by host name as usual. A name
with any refused address is refused as a whole, so round-robin answers cannot slip one in.

No proxy is used (`trust_env=False`): a proxy would make the proxy's address the one checked.
The pool is set on httpx's transport through its private `_pool`; httpx is pinned exactly and
`tests/webhooks/test_outbound.py` fails by name if that member changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

from queues.outbound import OutboundPolicy

CONNECT_TIMEOUT_S = 5.0


class OutboundRefused(Exception):
    """The host resolves to an address MPC-API may not reach; `message` is safe to show."""

    def __init__(self, host: str, reason: str) -> None:
        self.message = f"{host} {reason}; set MPC_OUTBOUND_ALLOW to allow it"
        super().__init__(self.message)


async def checked_addresses(policy: OutboundPolicy, host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, if every one of them may be reached."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise OutboundRefused(host, "does not resolve") from None
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    refused = [address for address in found if not policy.address_allowed(host, address)]
    if refused:
        raise OutboundRefused(host, f"resolves to a private or reserved address ({refused[0]})")
    return [str(address) for address in found]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's default backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            addresses = await checked_addresses(self._policy, host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # checked_addresses returns at least one address
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused(path, "is a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, *, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


def guarded_client(
    allow: tuple[str, ...], *, timeout: httpx.Timeout, limits: httpx.Limits | None = None
) -> httpx.AsyncClient:
    """An httpx client for outside URLs: no redirects, no proxy, no environment credentials
    (.netrc), only addresses `allow` (MPC_OUTBOUND_ALLOW) or the public internet."""
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    return httpx.AsyncClient(
        transport=GuardedTransport(OutboundPolicy(allow), limits=limits),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    )
