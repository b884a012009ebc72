"""``create_emulator()``: the provider emulator as one Starlette app.

Routes, by path prefix (the prefix is what a LiteLLM deployment puts in ``api_base``):
OpenAI-compatible providers (``openai_wire.PREFIXES``), ``/anthropic``, ``/gemini/v1beta``,
and the control API under ``/_emulator``. Any other path is logged (provider "unknown") and
answered 404, so a wrong ``api_base`` shows up in the request log.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from sandbox.emulator import anthropic_wire, control, gemini_wire, openai_wire
from sandbox.emulator.calls import begin
from sandbox.emulator.state import EmulatorState
from sandbox.emulator.transport import EmulatedResponse

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _unknown_shape(status: int, message: str, retry_after: float | None) -> dict[str, object]:
    return {"error": {"message": message, "type": "not_found", "code": status}}


async def unknown_route(request: Request) -> EmulatedResponse:
    call = await begin(request, "unknown", _unknown_shape)
    return call.error(404, f"emulator: no route for {request.method} {request.url.path}")


def create_emulator(state: EmulatorState | None = None) -> Starlette:
    """The ASGI app. ``app.state.emulator`` is its ``EmulatorState`` (controls + request log)."""
    routes: list[BaseRoute] = [
        *control.routes(),
        *openai_wire.routes(),
        *anthropic_wire.routes(),
        *gemini_wire.routes(),
        Route("/{path:path}", unknown_route, methods=ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = state or EmulatorState()
    return app
