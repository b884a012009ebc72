"""ASGI apps on real uvicorn, on loopback, in a background thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from sandbox.emulator.app import create_emulator
from sandbox.emulator.client import EmulatorClient
from sandbox.processes import free_port
from tests.support.waiting import wait_until


@contextmanager
def running_server(app: Any, port: int | None = None, *, root_path: str = "", **options: Any) -> Iterator[str]:
    """Serve an ASGI app with real uvicorn on loopback in a background thread (`root_path`:
    as behind a proxy that mounts it under that prefix; `options`: more of uvicorn's, as
    `api.connection_guard.server_options` gives them); yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        root_path=root_path,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        if not wait_until(lambda: server.started, timeout=10):
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_emulator(port: int | None = None) -> Iterator[EmulatorClient]:
    """Serve a fresh provider emulator for the block's duration; yields its control client."""
    emulator = create_emulator()
    with (
        running_server(emulator, port=port) as base_url,
        EmulatorClient(base_url) as client,
    ):
        yield client
