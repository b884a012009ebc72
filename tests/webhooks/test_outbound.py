"""The outbound policy and the guarded client: addresses refused, exceptions allowed, the
check made where the connection is made (a real server on loopback stands in for a private one)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queues.outbound import OutboundPolicy, is_public, parse_http_url, shown_url
from tests.support.servers import running_server
from workers._download import DownloadError, read_all
from workers._outbound import GuardedBackend, GuardedTransport, OutboundRefused, guarded_client

TIMEOUT = httpx.Timeout(5.0)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "127.8.8.8",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_addresses_off_the_public_internet_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert not OutboundPolicy(()).address_allowed("example.com", ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_allow_list_names_hosts_or_cidrs() -> None:
    policy = OutboundPolicy(("10.0.0.0/8", "hooks.internal", "::1"))
    assert policy.address_allowed("x", ipaddress.ip_address("10.9.9.9"))
    assert not policy.address_allowed("x", ipaddress.ip_address("192.168.0.1"))
    assert policy.address_allowed("HOOKS.internal.", ipaddress.ip_address("192.168.0.1"))
    assert policy.address_allowed("x", ipaddress.ip_address("::1"))
    assert not policy.address_allowed("x", ipaddress.ip_address("127.0.0.1"))


def test_literals_the_gateway_refuses_without_dns() -> None:
    policy = OutboundPolicy(())
    for host in ("10.0.0.1", "[::1]", "::ffff:127.0.0.1", "localhost", "api.localhost", "169.254.169.254"):
        assert policy.literal_refused(host), host
    for host in ("example.com", "8.8.8.8", "internal.example"):  # a name is checked by the worker
        assert not policy.literal_refused(host), host
    assert not OutboundPolicy(("localhost",)).literal_refused("localhost")
    assert not OutboundPolicy(("127.0.0.0/8",)).literal_refused("localhost")


# 127.0.0.1 as the system's resolver also reads it: one number, octal, hex, short, mixed.
LOOPBACK_SPELLINGS = ("2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "0177.1", "127.0.1")


def test_numeric_spellings_are_the_address_they_name() -> None:
    for host in LOOPBACK_SPELLINGS:
        assert OutboundPolicy(()).literal_refused(host), host
        assert OutboundPolicy(("127.0.0.2/32",)).literal_refused(host), host
        assert not OutboundPolicy(("127.0.0.0/8",)).literal_refused(host), host
    for host in ("0xa9.0xfe.0xa9.0xfe", "2852039166", "012.0.0.1"):  # 169.254.169.254, 10.0.0.1
        assert OutboundPolicy(()).literal_refused(host), host
    for host in ("1234.example", "0x7f.example", "8.8.8.8.example", "deadbeef"):  # names
        assert not OutboundPolicy(()).literal_refused(host), host


async def test_an_allow_list_of_another_loopback_address_refuses_each_spelling(local_server: str) -> None:
    port = local_server.rsplit(":", 1)[1]
    hosts = (*LOOPBACK_SPELLINGS, "127.0.0.1", "[::ffff:127.0.0.1]", "localhost")
    async with guarded_client(("127.0.0.2/32",), timeout=TIMEOUT) as client:
        for host in hosts:
            url = f"http://{host}:{port}/a"
            if parse_http_url(url) is None:
                continue  # httpx cannot even parse it (dotted octal): refused before any call
            with pytest.raises(OutboundRefused):
                await client.get(url)
            with pytest.raises(DownloadError, match="cannot be fetched"):
                await read_all(client, url, max_bytes=1000, timeout_s=5)
    async with guarded_client(("127.0.0.0/8",), timeout=TIMEOUT) as client:
        for host in LOOPBACK_SPELLINGS:  # the same spellings do reach loopback when it is allowed
            url = f"http://{host}:{port}/a"
            if parse_http_url(url) is not None:
                assert (await client.get(url)).status_code == 200, host


def test_urls_the_workers_client_cannot_parse_are_refused_up_front() -> None:
    assert parse_http_url("http://0177.0.0.1/hook") is None
    assert parse_http_url("http://2130706433/hook") is not None  # parsed: judged by its address


def test_shown_urls_drop_credentials_and_query() -> None:
    assert shown_url("https://user:pw@hooks.example:8443/in?token=s3cret#x") == "https://hooks.example:8443/in"
    assert shown_url("http://[::1]:9/p?q=1") == "http://[::1]:9/p"


async def _ok(_: Request) -> Response:
    return Response(b"hello", media_type="text/plain")


@pytest.fixture(scope="module")
def local_server() -> Iterator[str]:
    with running_server(Starlette(routes=[Route("/a", _ok)])) as base:
        yield base


async def test_a_loopback_server_is_refused_by_default(local_server: str) -> None:
    async with guarded_client((), timeout=TIMEOUT) as client:
        for url in (f"{local_server}/a", local_server.replace("127.0.0.1", "localhost") + "/a"):
            with pytest.raises(OutboundRefused) as refused:
                await client.get(url)
            assert "MPC_OUTBOUND_ALLOW" in refused.value.message


@pytest.mark.parametrize("allow", [("127.0.0.0/8",), ("127.0.0.1",), ("localhost", "127.0.0.1")])
async def test_allowed_hosts_are_reached(local_server: str, allow: tuple[str, ...]) -> None:
    async with guarded_client(allow, timeout=TIMEOUT) as client:
        response = await client.get(f"{local_server}/a")
    assert response.status_code == 200 and response.content == b"hello"


async def test_an_allowed_name_is_reached_whatever_it_resolves_to(local_server: str) -> None:
    async with guarded_client(("localhost",), timeout=TIMEOUT) as client:
        response = await client.get(local_server.replace("127.0.0.1", "localhost") + "/a")
    assert response.status_code == 200


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async with guarded_client((), timeout=TIMEOUT) as client:
        with pytest.raises(OutboundRefused, match="does not resolve"):
            await client.get("https://no-such-host.invalid/x")


async def test_downloads_go_through_the_guard(local_server: str) -> None:
    async with guarded_client((), timeout=TIMEOUT) as client:
        with pytest.raises(DownloadError, match="private or reserved address"):
            await read_all(client, f"{local_server}/a?sig=secret", max_bytes=1000, timeout_s=5)
    async with guarded_client(("127.0.0.1",), timeout=TIMEOUT) as client:
        assert await read_all(client, f"{local_server}/a", max_bytes=1000, timeout_s=5) == b"hello"


def test_httpx_still_has_the_private_pool_the_guard_replaces() -> None:
    """The guard sets httpx's transport's private `_pool` (httpx is pinned): an httpx that
    renamed it would send requests through a pool without the guard."""
    transport = GuardedTransport(OutboundPolicy(()), limits=httpx.Limits())
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._network_backend, GuardedBackend)
