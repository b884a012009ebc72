from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import create_app
from catalog import Catalog
from queues.settings import Settings
from tests.support.auth import AUTH
from tests.support.servers import running_server
from tests.support.waiting import wait_until
from tests.support.workers import LOOPBACK_ALLOW, WorkerProcess


@dataclass(frozen=True)
class Call:
    name: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A webhook receiver on loopback: records every POST to /hooks/{name}; answers each name
    with the statuses queued in `answers` (then 200), after `delays` seconds."""

    app: Starlette = field(init=False)
    calls: list[Call] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/hooks/{name}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        call = Call(name, dict(request.headers), await request.body(), time.time())
        with self.lock:
            self.calls.append(call)
            queued = self.answers.get(name)
            status = queued.pop(0) if queued else 200
        await asyncio.sleep(self.delays.get(name, 0))
        return Response(status_code=status)

    def calls_to(self, name: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.name == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 30) -> list[Call]:
        assert wait_until(lambda: len(self.calls_to(name)) >= count, timeout=timeout), (
            f"{name}: {len(self.calls_to(name))} calls of {count}"
        )
        return self.calls_to(name)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    with running_server(found.app) as base:
        yield found, base


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    """The test gateway, which accepts webhook URLs on loopback (as `mpc-api dev` does)."""
    return msgspec.structs.replace(settings, outbound_allow=tuple(LOOPBACK_ALLOW.split(",")))


@pytest.fixture
def api(gateway_settings: Settings, catalog: Catalog) -> Iterator[httpx.Client]:
    with (
        running_server(create_app(gateway_settings, catalog)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as client,
    ):
        yield client


@pytest.fixture
def start_worker(clean_redis: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Workers running tests/support/handlers.py; with `allow`, they may deliver to loopback."""
    started: list[WorkerProcess] = []

    def start(queue_class: str, *, allow: bool = True, log: Path | None = None) -> WorkerProcess:
        env = {"MPC_LOG_LEVEL": "INFO"}
        if allow:
            env["MPC_OUTBOUND_ALLOW"] = LOOPBACK_ALLOW
        worker = WorkerProcess(clean_redis, queue_class, extra_env=env, log=log)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)
