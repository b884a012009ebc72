"""The control API under ``/_emulator`` (for tests and the dev stack, never for LiteLLM).

| method, path                          | what                                                    |
|---------------------------------------|---------------------------------------------------------|
| GET    /_emulator/health              | ``{"status": "ok", "providers": {...}, "requests": n}`` |
| GET    /_emulator/models              | every model's stored settings                           |
| GET    /_emulator/models/{model}      | one model's settings (404 if none)                      |
| POST   /_emulator/models/{model}      | replace the model's settings (``*`` = all other models) |
| DELETE /_emulator/models/{model}      | reset one model                                         |
| DELETE /_emulator/models              | reset all models                                        |
| GET    /_emulator/requests            | the request log; filters ``?model=&provider=&since=``   |
| DELETE /_emulator/requests            | clear the log                                           |
| GET    /_emulator/videos              | video jobs ``?wire=&model=&tag=`` (phase, polls ...)    |
| POST   /_emulator/reset               | reset all models, clear the log and the video jobs      |

Model settings are ``behaviour.Directives``; the video keys (generation time, progress and
faults of emulated provider videos) are described in ``video_jobs``.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.emulator import (
    anthropic_wire,
    elevenlabs_wire,
    fal_wire,
    gemini_wire,
    heygen_wire,
    huggingface_wire,
    openai_wire,
    runway_video,
)
from sandbox.emulator.behaviour import DirectiveError, directives_from
from sandbox.emulator.state import state_of

PREFIX = "/_emulator"


def providers() -> dict[str, str]:
    """Provider → path prefix to use as LiteLLM's ``api_base`` (after ``http://host:port``)."""
    return {
        **openai_wire.PREFIXES,
        "anthropic": anthropic_wire.PREFIX,
        "gemini": gemini_wire.PREFIX,
        "elevenlabs": elevenlabs_wire.PREFIX,
        "fal": fal_wire.PREFIX,
        "huggingface_inference": huggingface_wire.PREFIX,
        "runway": runway_video.PREFIX,
        "heygen": heygen_wire.PREFIX,
    }


async def health(request: Request) -> JSONResponse:
    state = state_of(request)
    return JSONResponse(
        {
            "status": "ok",
            "providers": providers(),
            "requests": len(state.log),
            "models": sorted(state.controls),
            "videos": len(state.videos),
        }
    )


async def list_controls(request: Request) -> JSONResponse:
    state = state_of(request)
    return JSONResponse({"models": {name: control.to_json() for name, control in state.controls.items()}})


async def get_control(request: Request) -> JSONResponse:
    model: str = request.path_params["model"]
    control = state_of(request).controls.get(model)
    if control is None:
        return JSONResponse({"error": f"no settings for model {model!r}"}, status_code=404)
    return JSONResponse({"model": model, "settings": control.to_json()})


async def set_control(request: Request) -> JSONResponse:
    model: str = request.path_params["model"]
    raw = await request.body()
    try:
        values = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    if not isinstance(values, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    try:
        directives = directives_from(values, source="control body")
    except DirectiveError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    control = state_of(request).set_control(model, directives)
    return JSONResponse({"model": model, "settings": control.to_json()})


async def reset_control(request: Request) -> JSONResponse:
    model: str = request.path_params["model"]
    state_of(request).reset(model)
    return JSONResponse({"reset": model})


async def reset_all_controls(request: Request) -> JSONResponse:
    state_of(request).reset()
    return JSONResponse({"reset": "all"})


async def list_requests(request: Request) -> JSONResponse:
    query = request.query_params
    since = query.get("since", "0")
    if not since.isdigit():
        return JSONResponse({"error": "since must be a sequence number"}, status_code=400)
    entries = state_of(request).requests(model=query.get("model"), provider=query.get("provider"), since=int(since))
    return JSONResponse({"requests": entries})


async def clear_requests(request: Request) -> JSONResponse:
    state_of(request).clear_log()
    return JSONResponse({"cleared": True})


async def reset_everything(request: Request) -> JSONResponse:
    state = state_of(request)
    state.reset()
    state.clear_log()
    state.videos.clear()
    return JSONResponse({"reset": "all"})


async def list_videos(request: Request) -> JSONResponse:
    query = request.query_params
    jobs = state_of(request).videos.of_wire(query.get("wire"))
    wanted = [job for job in jobs if query.get("model") in (None, job.model) and query.get("tag") in (None, job.tag)]
    return JSONResponse({"videos": [job.to_json() for job in wanted]})


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/models", list_controls, methods=["GET"]),
        Route(f"{PREFIX}/models", reset_all_controls, methods=["DELETE"]),
        Route(f"{PREFIX}/models/{{model:path}}", get_control, methods=["GET"]),
        Route(f"{PREFIX}/models/{{model:path}}", set_control, methods=["POST", "PUT"]),
        Route(f"{PREFIX}/models/{{model:path}}", reset_control, methods=["DELETE"]),
        Route(f"{PREFIX}/requests", list_requests, methods=["GET"]),
        Route(f"{PREFIX}/requests", clear_requests, methods=["DELETE"]),
        Route(f"{PREFIX}/videos", list_videos, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset_everything, methods=["POST"]),
    ]
