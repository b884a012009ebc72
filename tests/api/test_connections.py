"""Connections a client cannot abuse: slow or oversized headers, stalled bodies, too many
event streams per key, and CORS. The gateway runs on real uvicorn with the options
`mpc-api serve` uses (api.connection_guard.server_options), talked to over raw sockets
where an HTTP client would not misbehave on purpose."""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import msgspec
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from api.app import create_app
from api.connection_guard import server_options
from catalog import Catalog
from queues.settings import Settings
from tests.support.auth import AUTH, OTHER_AUTH, TEST_API_KEY
from tests.support.envelopes import assert_envelope
from tests.support.servers import running_server

LIMIT_S = 1  # the tests' header and body timeouts (the default is 15 s)
ORIGIN = "https://app.example.com"


@pytest.fixture
def guarded(settings: Settings, catalog: Catalog) -> Iterator[str]:
    limited = msgspec.structs.replace(
        settings,
        header_timeout_s=LIMIT_S,
        body_timeout_s=LIMIT_S,
        max_header_bytes=4096,
        max_streams_per_key=2,
        cors_origins=(ORIGIN,),
    )
    with running_server(create_app(limited, catalog), **server_options(limited)) as base_url:
        yield base_url


def connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=LIMIT_S * 5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), msgspec.json.decode(body)["error"]


def request_head(path: str = "/api/select-model", *, length: int | None = None, extra: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {TEST_API_KEY}\r\n".encode()
    if length is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n".encode()
    return head + extra


def test_headers_not_complete_in_time_are_a_408_and_the_connection_closes(guarded: str) -> None:
    with connect(guarded) as silent, connect(guarded) as slow:
        slow.sendall(request_head())  # no blank line: the headers never end
        started = time.monotonic()
        for sock in (silent, slow):
            status, error = status_and_error(read_all(sock))
            assert status == 408 and error["code"] == "request_timeout"
        assert LIMIT_S - 0.1 <= time.monotonic() - started < LIMIT_S + 2  # event-loop timers may fire a ms early


@pytest.mark.parametrize("path", ["/api/select-model", "/api/jobs"])  # the fast lane, FastAPI
def test_a_body_that_stalls_is_dropped(guarded: str, path: str) -> None:
    with connect(guarded) as sock:
        sock.sendall(request_head(path, length=100) + b'\r\n{"task": "chat_')
        started = time.monotonic()
        status, error = status_and_error(read_all(sock))
        assert status == 408 and "sent nothing for 1 seconds" in str(error["message"])
        assert LIMIT_S - 0.1 <= time.monotonic() - started < LIMIT_S + 2  # event-loop timers may fire a ms early
    # The gateway is fine, and saw the stalled request as a client that left.
    assert httpx.post(f"{guarded}{path}", headers=AUTH, json={"task": "nope"}).status_code == 422
    metrics = httpx.get(f"{guarded}/metrics").text
    assert 'status="500"' not in metrics


def test_a_slow_but_steady_body_is_not_dropped(guarded: str) -> None:
    body = b'{"task": "chat_general"}'
    with connect(guarded) as sock:
        sock.sendall(request_head(length=len(body)) + b"\r\n")
        for i in range(0, len(body), 8):  # over twice the timeout in all, never idle that long
            time.sleep(LIMIT_S * 0.6)
            sock.sendall(body[i : i + 8])
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("how", ["in one piece", "never ending"])
def test_headers_over_the_cap_are_a_431(guarded: str, how: str) -> None:
    big = b"X-Padding: " + b"a" * 5000
    with connect(guarded) as sock:
        sock.sendall(request_head(length=2, extra=big + (b"\r\n\r\n{}" if how == "in one piece" else b"")))
        status, error = status_and_error(read_all(sock))
    assert status == 431 and error["code"] == "request_headers_too_large"


def test_kept_alive_connections_serve_request_after_request(guarded: str) -> None:
    with httpx.Client(base_url=guarded, headers=AUTH) as client:
        for _ in range(2):
            assert client.post("/api/select-model", json={"task": "tts"}).status_code == 200
            time.sleep(LIMIT_S * 0.6)  # idle between requests: the keep-alive timeout's, not ours


def test_uvicorn_still_has_what_the_guard_relies_on() -> None:
    # api/connection_guard.py overrides these parser callbacks and reads these fields: a
    # uvicorn upgrade that renames one fails here, naming it.
    for method in ("connection_made", "connection_lost", "data_received", "on_message_begin"):
        assert callable(getattr(HttpToolsProtocol, method)), method
    for method in ("on_headers_complete", "on_body", "on_message_complete"):
        assert next(iter(inspect.signature(getattr(HttpToolsProtocol, method)).parameters)) == "self", method
    source = inspect.getsource(HttpToolsProtocol)
    for field in ("self.url", "self.headers", "self.cycle", "self.transport", "self.loop"):
        assert field in source, field
    cycle = inspect.getsource(RequestResponseCycle)
    for field in ("self.response_started", "self.response_complete", "self.disconnected"):
        assert field in cycle, field


def test_event_streams_per_key_are_capped(guarded: str) -> None:
    with httpx.Client(base_url=guarded, headers=AUTH, timeout=10) as client, ExitStack() as open_streams:
        jobs = [client.post("/api/jobs", json={"task": "tts", "input": {"text": "hi"}}).json()["id"] for _ in range(3)]
        readers = []  # kept: a reader collected closes its stream
        for job in jobs[:2]:  # no worker: the jobs stay queued and their streams open
            stream = open_streams.enter_context(client.stream("GET", f"/api/jobs/{job}/events"))
            assert stream.status_code == 200
            readers.append(stream.iter_bytes())
            assert b"event: status" in next(readers[-1])
        over = client.get(f"/api/jobs/{jobs[2]}/events")
        assert_envelope(over, 429, "too_many_streams")
        assert over.headers["retry-after"] == "1"
        # A chat stream counts too, refused before anything is submitted.
        chat = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        assert_envelope(client.post("/api/chat/completions", json=chat), 429, "too_many_streams")
        other = httpx.post(f"{guarded}/api/jobs", headers=OTHER_AUTH, json={"task": "tts", "input": {"text": "x"}})
        with httpx.stream("GET", f"{guarded}/api/jobs/{other.json()['id']}/events", headers=OTHER_AUTH) as theirs:
            assert theirs.status_code == 200  # another key has slots of its own
        open_streams.close()
        with client.stream("GET", f"/api/jobs/{jobs[2]}/events") as freed:
            assert freed.status_code == 200  # a closed stream gave its slot back


@pytest.mark.parametrize("path", ["/api/select-model", "/api/chat/completions", "/api/jobs", "/api/tasks"])
def test_cors_preflight_is_the_same_on_every_route(guarded: str, path: str) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = httpx.options(
        f"{guarded}{path}", headers={**preflight, "Access-Control-Request-Headers": "authorization"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    other = httpx.options(f"{guarded}{path}", headers={**preflight, "Origin": "https://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_cors_headers_on_fast_lane_answers(guarded: str) -> None:
    answer = httpx.post(f"{guarded}/api/select-model", headers={**AUTH, "Origin": ORIGIN}, json={"task": "tts"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


def test_cors_is_off_by_default(gateway: str) -> None:
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    for path in ("/api/select-model", "/api/jobs"):
        preflight = httpx.options(f"{gateway}{path}", headers=headers)
        assert_envelope(preflight, 405, "method_not_allowed")
        assert "access-control-allow-origin" not in preflight.headers
    answer = httpx.post(f"{gateway}/api/select-model", headers={**AUTH, "Origin": ORIGIN}, json={"task": "tts"})
    assert "access-control-allow-origin" not in answer.headers
