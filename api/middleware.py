"""Pure-ASGI middleware that observes every HTTP request: request id, metrics, access log.

One middleware rather than three keeps the per-request overhead to a single wrapper.
Metric labels use the route template (bounded), never the raw path.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metrics.definitions import GatewayMetrics
from metrics.jsonlog import log_context

log = logging.getLogger("mpc.http")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# scope["state"] entry: a function of the time giving headers every answer to the request
# carries, errors included (the RateLimit headers of a limited key: api/limiter.py).
RESPONSE_HEADERS = "mpc.response_headers"
_QUIET_ROUTES = frozenset({"/metrics", "/health/live", "/health/ready"})
# The status recorded for a request whose client left before its answer began (nginx's
# convention): nothing was sent, but operators should see that it happened, and how long
# the client waited.
CLIENT_CLOSED_REQUEST = 499


def request_id_of(scope: Scope) -> str:
    """The request id the middleware assigned (routes pass it into jobs)."""
    state = scope.get("state") or {}
    return str(state.get("request_id", ""))


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # (route template, method, status) -> that request's counter and histogram series.
        # `labels()` validates and locks on every call; this map grows exactly as the
        # metrics' own label sets do.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        answered = False

        async def send_wrapper(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                message["headers"] = [*message.get("headers", ()), id_header]
                more = state.get(RESPONSE_HEADERS)
                if more is not None:
                    message["headers"] += more(time.time())
                self._observe(scope, message["status"], started)
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                if not answered:
                    # The outermost (Starlette's) error middleware answers 500 past this one.
                    self._observe(scope, 500, started)
                raise
            if not answered:
                self._observe(scope, CLIENT_CLOSED_REQUEST, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        series = self._series.get((template, method, status))
        if series is None:
            series = (
                self.metrics.http_requests.labels(template, method, str(status)),
                self.metrics.http_duration.labels(template, method),
            )
            self._series[(template, method, status)] = series
        series[0].inc()
        series[1].observe(elapsed)
        if template not in _QUIET_ROUTES and log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %d",
                method,
                template,
                status,
                extra={"route": template, "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return str(value.decode())
    return "req_" + secrets.token_hex(8)
