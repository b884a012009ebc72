"""Structured logs: one JSON object per line, with the request and job in context.

`log_context` carries request id, job id, task, model and provider through asyncio tasks
(contextvars), so every line a request or job produces names them without threading them
through call signatures. Never put a secret in a log call: these lines are shipped as-is.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# The default is an immutable empty mapping, shared safely by every context.
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("mpc_log_context", default=_EMPTY)

# Attributes every LogRecord has; anything else passed via `extra=` is ours to print.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class log_context:  # lower-case: used like a function, `with log_context(job_id=…):`
    """Add fields (request_id, job_id, task, model, provider…) to every log line inside.

    A class rather than @contextmanager: it wraps every request, and a generator-based
    context manager costs about three times as much to enter and leave."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: Any) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        self._token = _context.set({**_context.get(), **{k: v for k, v in self._fields.items() if v is not None}})

    def __exit__(self, *exc: object) -> None:
        _context.reset(self._token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_context.get())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception messages can carry upstream bodies or URLs with keys.
            line["exc_type"] = record.exc_info[0].__name__
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for our loggers and the libraries we run (uvicorn, arq)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # httpx logs every request at INFO: the workers' LiteLLM calls are logged by us instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
