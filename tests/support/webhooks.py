"""A webhook receiver for tests: a Starlette app that records what it is sent and answers as
told (statuses, delays), served on loopback with `tests.support.servers.running_server`."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.waiting import wait_until


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
