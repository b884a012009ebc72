"""Which job handlers a worker runs, by task id.

Built-in handlers are registered in `BUILTIN_HANDLERS` by the issues that add them (chat,
media, orchestration). `MPC_WORKER_HANDLERS` names extra modules (comma-separated), each
exposing `HANDLERS: Mapping[str, Handler]`; the tests register their job functions this way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from workers.context import Handler, Handlers

BUILTIN_HANDLERS: Mapping[str, Handler] = {}


def load_handlers(extra_modules: str = "") -> Handlers:
    handlers: dict[str, Handler] = dict(BUILTIN_HANDLERS)
    for name in (m.strip() for m in extra_modules.split(",")):
        if not name:
            continue
        module = importlib.import_module(name)
        extra = getattr(module, "HANDLERS", None)
        if not isinstance(extra, Mapping):
            raise ValueError(f"MPC_WORKER_HANDLERS: module {name!r} has no HANDLERS mapping")
        handlers.update(extra)
    return handlers
