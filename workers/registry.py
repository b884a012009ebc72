"""Which job handlers a worker runs, by task id.

Built-in: every text task of the catalog runs through the chat handler (LiteLLM chat
completions down the brain's fallback chain). `MPC_WORKER_HANDLERS` names extra modules
(comma-separated), each exposing `HANDLERS: Mapping[str, Handler]`, which override the
built-ins for their tasks; the tests register their job functions this way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from redis.asyncio import Redis

from catalog import Catalog
from metrics.definitions import WorkerMetrics
from queues.breakers import BreakerView
from workers.chat_handler import ChatHandler
from workers.context import Handler, Handlers
from workers.litellm import LiteLLMClient


def builtin_handlers(
    catalog: Catalog, litellm: LiteLLMClient, redis: Redis, metrics: WorkerMetrics, *, breaker_cool_off_s: float
) -> dict[str, Handler]:
    view = BreakerView(redis, cool_off_s=breaker_cool_off_s)
    chat = ChatHandler(litellm=litellm, redis=redis, metrics=metrics, breaker_view=view)
    return {task.id: chat for task in catalog.tasks.values() if task.modality == "text"}


def load_handlers(builtin: Mapping[str, Handler], extra_modules: str = "") -> Handlers:
    handlers: dict[str, Handler] = dict(builtin)
    for name in (m.strip() for m in extra_modules.split(",")):
        if not name:
            continue
        module = importlib.import_module(name)
        extra = getattr(module, "HANDLERS", None)
        if not isinstance(extra, Mapping):
            raise ValueError(f"MPC_WORKER_HANDLERS: module {name!r} has no HANDLERS mapping")
        handlers.update(extra)
    return handlers
