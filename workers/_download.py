"""Fetching media from a URL the job names or a provider answers with: http(s) only, no
redirects, a size cap enforced while reading, a time cap on the whole exchange.

The client passed in is the worker's guarded one (`workers/_outbound.py`): it connects only to
addresses the outbound policy allows, checked when it connects; a refusal is a `DownloadError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from queues.outbound import parse_http_url, shown_url
from workers._outbound import OutboundRefused
from workers._streams import closing

CONNECT_TIMEOUT_S = 5.0
READ_BYTES = 64 * 1024


class DownloadError(Exception):
    """The URL could not be fetched as asked; `message` is safe to show (no query string)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Download:
    content_type: str
    length: int | None  # as declared; the cap is enforced on what arrives
    chunks: AsyncIterator[bytes]


def shown(url: str) -> str:
    """The URL without credentials, query and fragment (which may carry a signature)."""
    return shown_url(url)


def check_url(url: str) -> None:
    if parse_http_url(url) is None:
        raise DownloadError(f"only valid http:// and https:// URLs can be fetched, not {shown(url)!r}")


@asynccontextmanager
async def download(http: httpx.AsyncClient, url: str, *, max_bytes: int, timeout_s: float) -> AsyncIterator[Download]:
    """Open `url` for reading; `DownloadError` for a bad URL, status, redirect, size or timeout."""
    check_url(url)
    timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
    try:
        async with asyncio.timeout(timeout_s):
            request = http.build_request("GET", url, timeout=timeout)
            response = await http.send(request, stream=True, follow_redirects=False)
    except TimeoutError:
        raise DownloadError(f"{shown(url)} did not answer within {timeout_s:g} s") from None
    except OutboundRefused as exc:
        raise DownloadError(f"{shown(url)} cannot be fetched: {exc.message}") from None
    except httpx.HTTPError as exc:
        raise DownloadError(f"{shown(url)} could not be fetched ({type(exc).__name__})") from None
    try:
        if response.is_redirect:
            raise DownloadError(f"{shown(url)} redirects elsewhere; give the final URL")
        if response.status_code != 200:
            raise DownloadError(f"{shown(url)} answered HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        length = int(declared) if declared and declared.isdigit() else None
        if length is not None and length > max_bytes:
            raise DownloadError(f"{shown(url)} is {length} bytes, over the limit of {max_bytes}")
        content_type = response.headers.get("content-type", "application/octet-stream")
        yield Download(content_type, length, _capped(response, url, max_bytes, timeout_s))
    finally:
        with contextlib.suppress(httpx.HTTPError):
            await response.aclose()


async def _capped(response: httpx.Response, url: str, max_bytes: int, timeout_s: float) -> AsyncIterator[bytes]:
    # A deadline checked per chunk (httpx bounds each read): an asyncio.timeout around the
    # yields would cancel whatever the consumer is awaiting between them.
    deadline = asyncio.get_running_loop().time() + timeout_s
    seen = 0
    try:
        async for chunk in response.aiter_bytes(READ_BYTES):
            seen += len(chunk)
            if seen > max_bytes:
                raise DownloadError(f"{shown(url)} is larger than the limit of {max_bytes} bytes")
            if asyncio.get_running_loop().time() > deadline:
                raise DownloadError(f"{shown(url)} did not finish within {timeout_s:g} s")
            yield chunk
    except httpx.TimeoutException:
        raise DownloadError(f"{shown(url)} stalled for more than {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise DownloadError(f"{shown(url)} broke off ({type(exc).__name__})") from None


async def read_all(http: httpx.AsyncClient, url: str, *, max_bytes: int, timeout_s: float) -> bytes:
    out = bytearray()
    async with (
        download(http, url, max_bytes=max_bytes, timeout_s=timeout_s) as fetched,
        closing(fetched.chunks) as chunks,
    ):
        async for chunk in chunks:
            out += chunk
    return bytes(out)
