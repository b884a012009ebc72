"""``create_emulator()``: the provider emulator as one Starlette app.

Routes, by path prefix (the prefix is what a LiteLLM deployment puts in ``api_base``):
OpenAI-compatible providers (``openai_wire.PREFIXES``, with their media endpoints in
``openai_media``), ``/anthropic``, ``/gemini/v1beta``, ``/elevenlabs``, ``/fal``, Hugging Face
embeddings (``/huggingface/hf-inference``), the generated media it serves by URL under
``/media``, and the control API under ``/_emulator``. Video wires (``video_jobs``): OpenAI
Videos (``openai_videos``), fal's queue (``fal_video``), ``/runway/v1`` (``runway_video``),
Veo (``gemini_video``), ``/heygen`` (``heygen_wire``), finished videos under ``/videos``.
Any other path is logged (provider "unknown") and answered 404, so a wrong ``api_base`` shows up in the request log.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.emulator import (
    anthropic_wire,
    control,
    elevenlabs_wire,
    fal_video,
    fal_wire,
    gemini_wire,
    heygen_wire,
    huggingface_wire,
    openai_media,
    openai_videos,
    openai_wire,
    runway_video,
    video_http,
)
from sandbox.emulator.calls import begin
from sandbox.emulator.state import EmulatorState, state_of
from sandbox.emulator.transport import EmulatedResponse

# Seconds the emulator process (`python -m sandbox.emulator`: benchmarks, `mpc-api dev`) keeps
# an idle client connection. Providers keep theirs for minutes; with uvicorn's 5 s, equal to
# httpx's own pool expiry, LiteLLM now and then sent a request on a connection the emulator was
# closing ("Connection error", seen in CI). The tests' in-thread emulator keeps uvicorn's 5 s:
# with 75 s its shutdown waited on LiteLLM's idle connections (30 s per test module).
KEEP_ALIVE_S = 75
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _unknown_shape(status: int, message: str, retry_after: float | None) -> dict[str, object]:
    return {"error": {"message": message, "type": "not_found", "code": status}}


async def unknown_route(request: Request) -> EmulatedResponse:
    call = await begin(request, "unknown", _unknown_shape)
    return call.error(404, f"emulator: no route for {request.method} {request.url.path}")


async def kept_media(request: Request) -> Response:
    """Generated media answered by URL (no auth: as a provider's CDN link)."""
    kept = state_of(request).media.get(request.path_params["name"])
    if kept is None:
        return Response(status_code=404)
    content_type, data = kept
    return Response(data, media_type=content_type)


def create_emulator(state: EmulatorState | None = None) -> Starlette:
    """The ASGI app. ``app.state.emulator`` is its ``EmulatorState`` (controls + request log)."""
    routes: list[BaseRoute] = [
        *control.routes(),
        Route("/media/{name}", kept_media, methods=["GET"]),
        *openai_wire.routes(),
        *openai_media.routes(),
        *openai_videos.routes(),
        *video_http.routes(),
        *fal_video.routes(),
        *runway_video.routes(),
        *heygen_wire.routes(),
        *anthropic_wire.routes(),
        *gemini_wire.routes(),
        *elevenlabs_wire.routes(),
        *fal_wire.routes(),
        *huggingface_wire.routes(),
        Route("/{path:path}", unknown_route, methods=ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = state or EmulatorState()
    return app
