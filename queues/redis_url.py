"""What `MPC_REDIS_URL` may say, read once at start-up so that a bad URL stops it there.

- `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS; `?ssl_ca_certs=…`,
  `?ssl_cert_reqs=…` as redis-py reads them) and `unix:///path[?db=N]`: one server.
- `redis+sentinel://[user:password@]host:port[,host:port…]/service[/db]` (and
  `rediss+sentinel://…`, TLS to the sentinels and the primary): the primary that the
  sentinels name for `service`, found again by every new connection, so a failover needs no
  restart. The credentials are the primary's (Redis ACL user and password); sentinels that
  require their own take `?sentinel_username=…&sentinel_password=…`.

Errors say what the URL must look like and never quote it: it may carry a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio.connection import parse_url

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme -> TLS
SERVER_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_SENTINEL_PORT = 26379
URL_FORMS = (
    "a URL starting with redis://, rediss:// (TLS), unix:// or redis+sentinel:// "
    "(redis://[user:password@]host[:port][/db], redis+sentinel://[user:password@]host:port[,host:port…]/service[/db])"
)


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """A `redis+sentinel://` URL, taken apart."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool
    username: str | None
    password: str | None
    sentinel_username: str | None
    sentinel_password: str | None
    options: tuple[tuple[str, Any], ...]  # connection options from the query (ssl_ca_certs, …)


def uses_sentinel(url: str) -> bool:
    return urlsplit(url).scheme in SENTINEL_SCHEMES


def check_redis_url(raw: str) -> str:
    """`raw` if it is a Redis URL this project can connect with; else ValueError (for settings)."""
    if uses_sentinel(raw):
        parse_sentinel_url(raw)
        return raw
    parts = urlsplit(raw)
    if parts.scheme not in SERVER_SCHEMES:
        raise ValueError(URL_FORMS)
    try:
        parse_url(raw)  # redis-py's own reading, query options included
        port = parts.port  # ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(URL_FORMS) from None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(URL_FORMS)
        return raw
    if not parts.hostname or port == 0:
        raise ValueError(URL_FORMS)
    path = unquote(parts.path).strip("/")
    if path and not path.isdigit():
        raise ValueError(URL_FORMS + "; the database is a number")
    return raw


def parse_sentinel_url(url: str) -> SentinelURL:
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(URL_FORMS)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(node) for node in hosts.split(","))
    path = [unquote(piece) for piece in parts.path.strip("/").split("/") if piece]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(URL_FORMS + "; the path is /service or /service/db")
    query = dict(parse_qsl(parts.query))
    sentinel_username = query.pop("sentinel_username", None)
    sentinel_password = query.pop("sentinel_password", None)
    options: dict[str, Any] = {}
    if query:
        rest = "&".join(f"{name}={value}" for name, value in query.items())
        try:
            options = dict(parse_url(f"redis://sentinel/?{rest}"))
        except ValueError:
            raise ValueError(URL_FORMS + "; a query option has a value redis-py cannot use") from None
        options.pop("host", None)
    return SentinelURL(
        sentinels=sentinels,
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        tls=SENTINEL_SCHEMES[parts.scheme],
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=sentinel_username,
        sentinel_password=sentinel_password,
        options=tuple(sorted(options.items())),
    )


def _host_port(node: str) -> tuple[str, int]:
    """`host:port`, `host` (the sentinel port) or `[v6]:port`."""
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else "x")
    else:
        host, _, port_text = node.partition(":")
    if not host or (port_text and not port_text.isdigit()):
        raise ValueError(URL_FORMS + "; every sentinel is host:port")
    port = int(port_text) if port_text else DEFAULT_SENTINEL_PORT
    if not 1 <= port <= 65535:
        raise ValueError(URL_FORMS + "; every sentinel is host:port")
    return host, port
