"""The emulator's memory: per-model controls and the log of received provider requests.

One ``EmulatorState`` per app (``app.state.emulator``). Everything runs on the server's
event loop and no method awaits, so no lock is needed.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request

from sandbox.emulator.behaviour import Behaviour, Directives, ModelControl, parse_request_directives
from sandbox.emulator.video_jobs import VideoStore

WILDCARD = "*"
LOG_LIMIT = 2000
#: Generated media kept for URL answers (fal images, OpenAI ``response_format: url``).
MEDIA_LIMIT = 200
REDACTED = "[REDACTED]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "xi-api-key", "cookie"}
)
SECRET_QUERY = frozenset({"key", "api_key"})


def redact_headers(headers: Any) -> dict[str, str]:
    """Header dict with secret values replaced (the scheme of ``Authorization`` is kept)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[key] = f"{scheme} {REDACTED}".strip()
        else:
            out[key] = value
    return out


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if k.lower() in SECRET_QUERY else v) for k, v in pairs])


@dataclass
class LoggedRequest:
    seq: int
    time: float
    method: str
    path: str
    query: str
    provider: str
    model: str | None
    headers: dict[str, str]
    body: Any
    stream: bool = False
    status: int | None = None
    behaviour: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "provider": self.provider,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "behaviour": self.behaviour,
            "headers": self.headers,
            "body": self.body,
        }


def decode_body(raw: bytes) -> Any:
    """Parsed JSON when the body is JSON, else text (binary shown by size)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return f"<{len(raw)} bytes>"


class EmulatorState:
    def __init__(self) -> None:
        self.controls: dict[str, ModelControl] = {}
        self.log: deque[LoggedRequest] = deque(maxlen=LOG_LIMIT)
        self._seq = itertools.count(1)
        self.media: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self.videos = VideoStore()

    # -- generated media served by URL ----------------------------------------------------
    def keep_media(self, data: bytes, content_type: str, extension: str) -> str:
        """Keep ``data`` for ``GET /media/{name}`` (the oldest go first); returns the name."""
        name = f"{uuid.uuid4().hex}.{extension}"
        self.media[name] = (content_type, data)
        while len(self.media) > MEDIA_LIMIT:
            self.media.popitem(last=False)
        return name

    # -- controls -------------------------------------------------------------------------
    def set_control(self, model: str, directives: Directives) -> ModelControl:
        control = ModelControl.create(directives)
        self.controls[model] = control
        return control

    def reset(self, model: str | None = None) -> None:
        if model is None:
            self.controls.clear()
        else:
            self.controls.pop(model, None)

    def resolve(
        self, model: str | None, *, header: str | None, text: str, counted: tuple[str, ...] | None = None
    ) -> Behaviour:
        """Model control (or the ``*`` default), overlaid with the request's directives.

        Raises ``DirectiveError`` for a malformed directive (before any ``fail_times`` is
        consumed). ``counted``: see ``ModelControl.apply``."""
        request_directives = parse_request_directives(header, text)
        return self.model_behaviour(model, counted=counted).overlay(request_directives)

    def model_behaviour(self, model: str | None, *, counted: tuple[str, ...] | None = None) -> Behaviour:
        """The model's stored settings alone (or the ``*`` default)."""
        control = self.controls.get(model or "") or self.controls.get(WILDCARD)
        return control.apply(counted) if control is not None else Behaviour()

    # -- request log ----------------------------------------------------------------------
    def record(self, request: Request, *, provider: str, model: str | None, raw_body: bytes) -> LoggedRequest:
        entry = LoggedRequest(
            seq=next(self._seq),
            time=time.time(),
            method=request.method,
            path=request.url.path,
            query=redact_query(request.url.query),
            provider=provider,
            model=model,
            headers=redact_headers(request.headers),
            body=decode_body(raw_body),
        )
        self.log.append(entry)
        return entry

    def requests(
        self, *, model: str | None = None, provider: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        return [
            entry.to_json()
            for entry in self.log
            if entry.seq > since
            and (model is None or entry.model == model)
            and (provider is None or entry.provider == provider)
        ]

    def clear_log(self) -> None:
        self.log.clear()


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state
