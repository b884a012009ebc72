"""Which addresses MPC-API may reach on a URL someone else chose: a webhook's receiver, a
media URL in a job's input, a result URL a provider answers with.

A URL from outside could otherwise make a worker call the services next to it (Redis,
LiteLLM, a cloud's metadata endpoint at 169.254.169.254). So every address that is not on the
public internet is refused: private, loopback, link-local, unspecified, multicast and reserved
ranges, IPv4 and IPv6 alike, and an IPv6 address that embeds an IPv4 one (`::ffff:10.0.0.1`,
6to4, NAT64) is judged by the IPv4 address inside it. `MPC_OUTBOUND_ALLOW` lists the
exceptions: a host name (as the URL spells it) or a CIDR the address falls in.

The policy is pure, here where the gateway (which checks a webhook URL when a job is
submitted, without resolving it) and the workers (which resolve and check each address they
connect to, `workers/_outbound.py`) both may import it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import SplitResult, urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton may read as IPv4: up to four parts of decimal, octal or hex digits.
_IPV4_SPELLING = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


class OutboundPolicy:
    """The allow-list of `MPC_OUTBOUND_ALLOW`, ready to answer per host and address."""

    __slots__ = ("_hosts", "_networks")

    def __init__(self, allow: tuple[str, ...]) -> None:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        self._hosts = frozenset(hosts)
        self._networks = tuple(networks)

    def host_allowed(self, host: str) -> bool:
        """The host name itself is on the allow-list (whatever it resolves to)."""
        return host.lower().rstrip(".") in self._hosts

    def host_listed(self, host: str) -> bool:
        """The allow-list names the host, or (for an address literal or a loopback name) a
        CIDR holding its address: the hosts that may be called over plain http://."""
        if self.host_allowed(host):
            return True
        address = _literal_address(host)
        return address is not None and any(
            address in network for network in self._networks if network.version == address.version
        )

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        """May a connection for `host` go to `address`?"""
        if self.host_allowed(host):
            return True
        if any(address in network for network in self._networks if network.version == address.version):
            return True
        return is_public(address)

    def literal_refused(self, host: str) -> bool:
        """A host that is an address literal or a loopback name and is refused: what can be
        decided without DNS (the gateway's check). A name that resolves to a refused address
        is caught when a worker connects."""
        address = _literal_address(host)
        return address is not None and not self.address_allowed(host, address)


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: an address literal, or loopback for `localhost`.
    IPv4 is read as the system's resolver reads it (`inet_aton`): besides dotted decimal,
    one number (`2130706433`), octal or hex parts (`0177.0.0.1`, `0x7f.1`) and short forms
    (`127.1`) all name an address, and a worker's connection would go there."""
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        pass
    if _IPV4_SPELLING.fullmatch(lowered) is None:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(lowered))
    except OSError:
        return None


def is_public(address: IPAddress) -> bool:
    """On the public internet: none of the special-purpose ranges (RFC 6890 and its
    successors, as Python's `ipaddress` knows them)."""
    embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    if embedded is not None:
        return is_public(embedded)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_http_url(url: str) -> SplitResult | None:
    """The URL's parts if it is http(s) with a host, else None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        httpx.URL(url)  # what the workers' client will parse: refused here, not at delivery
    except httpx.InvalidURL:
        return None
    return parts


def shown_url(url: str) -> str:
    """The URL without credentials, query and fragment (which may carry a token): safe for
    logs, errors and job records."""
    parts = urlsplit(url)
    port = ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"
