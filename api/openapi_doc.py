"""The OpenAPI document: what FastAPI derives from the routes, plus what it cannot see.

The hot routes read their bodies themselves with msgspec (no pydantic models), so FastAPI
knows neither their request bodies nor their errors. Here the document gains: the JSON
bodies (from the same msgspec Structs that decode them, so the two cannot drift), the
answers of select-model and orchestrate, and on every route the errors it can answer, each
in OpenAI's envelope. tests/chat/test_openapi_fuzz.py runs schemathesis against the live
gateway with this document: no 5xx, and no answer that contradicts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import ErrorEnvelope
from api.job_service import JobRequest
from api.openai_chat_schema import ChatBody
from api.selection_views import OrchestrateBody, PlanResponse, SelectBody, SelectResponse
from catalog import Catalog

_REF = "#/components/schemas/{name}"

# What each error status means on this gateway (api/errors.py's tree; 408 and 431 come from
# the connection guard before any route runs, so they are not per-route answers).
_ERRORS = {
    "400": "Bad input: invalid JSON, a body nested too deep, or a field outside its schema (`param` names it)",
    "401": "Missing or unknown API key",
    "403": "Not allowed (a bad or expired artifact link)",
    "404": "No such route, job, file, video, model or artifact (of this key)",
    "405": "Method not allowed on this route",
    "409": "Not in a state for that (a video still generating)",
    "413": "Request body or upload over its cap",
    "415": "Unsupported content type",
    "416": "Range not satisfiable",
    "422": "Well-formed but not servable: unknown task, no model satisfies the constraints, a bad value",
    "429": "Too many requests or open streams for this key, or the provider's rate limit after every fallback",
    "502": "Every model of the chain failed",
    "503": "Redis or the artifact store is unavailable (retry after `Retry-After`)",
    "504": "Every model of the chain timed out",
}
_ANY_ROUTE = ("400", "401", "404", "405", "422", "429", "503")  # 400: a bad query or header value
_WITH_BODY = ("413", "415")
_RUNS_A_JOB = ("409", "502", "504")  # a job's failure is relayed with its own status
_SERVES_BYTES = ("403", "416")
# Per path, the statuses beyond `_ANY_ROUTE` (a POST also gets `_WITH_BODY`).
_EXTRA: dict[str, tuple[str, ...]] = {
    "/api/jobs": _RUNS_A_JOB,
    "/api/chat/completions": _RUNS_A_JOB,
    "/api/embeddings": _RUNS_A_JOB,
    "/api/images/generations": _RUNS_A_JOB,
    "/api/audio/speech": _RUNS_A_JOB,
    "/api/audio/transcriptions": _RUNS_A_JOB,
    "/api/videos": _RUNS_A_JOB,
    "/api/videos/{video_id}": ("409",),
    "/api/videos/{video_id}/content": ("409", *_SERVES_BYTES),
    "/api/files/{file_id}/content": _SERVES_BYTES,
    "/api/jobs/{job_id}/artifacts/{name}": _SERVES_BYTES,
    "/api/artifacts/{job_id}/{name}": _SERVES_BYTES,
}
_MEDIA_BODIES: dict[str, dict[str, Any]] = {
    "/api/embeddings": {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {"anyOf": [{"type": "string"}, {"type": "array"}]},
            "model": {"type": "string"},
            "dimensions": {"type": "integer"},
            "encoding_format": {"type": "string", "enum": ["float", "base64"]},
            "user": {"type": "string"},
        },
    },
    "/api/images/generations": {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string"},
            "model": {"type": "string"},
            "n": {"type": "integer"},
            "size": {"type": "string"},
            "quality": {"type": "string"},
            "output_format": {"type": "string"},
            "response_format": {"type": "string", "enum": ["b64_json", "url"]},
        },
    },
    "/api/audio/speech": {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {"type": "string"},
            "model": {"type": "string"},
            "voice": {"type": "string"},
            "response_format": {"type": "string"},
            "speed": {"type": "number"},
            "instructions": {"type": "string"},
            "stream_format": {"type": "string", "enum": ["audio"]},
        },
    },
}
# The OpenAI-compatible chat body also takes the brain's steering fields (api/chat_request.py).
_CHAT_EXTENSIONS = ("task", "tier", "providers", "speed", "domains", "fallbacks")


# Where a submitted job's id leads (schemathesis follows these in its stateful phase). Its
# event stream is left out: a stream of a job no worker takes stays open until it expires.
_JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
    for name, operation in (
        ("GetJob", "get_job_api_jobs__job_id__get"),
        ("CancelJob", "cancel_job_api_jobs__job_id__cancel_post"),
    )
}


def install_openapi(app: FastAPI, catalog: Catalog) -> None:
    """Make `app.openapi()` return the completed document (built once, on first use)."""
    app.openapi = _builder(app, catalog)  # type: ignore[method-assign]


def _builder(app: FastAPI, catalog: Catalog) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            complete(document, catalog)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def complete(document: dict[str, Any], catalog: Catalog) -> None:
    """Add the bodies, answers and errors FastAPI cannot see to `document`, in place."""
    (envelope, select, orchestrate, chat, job, selected, plan), components = msgspec.json.schema_components(
        (ErrorEnvelope, SelectBody, OrchestrateBody, ChatBody, JobRequest, SelectResponse, PlanResponse),
        ref_template=_REF,
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    tasks = sorted(catalog.tasks)
    schemas = document["components"]["schemas"]
    for name in ("SelectBody", "OrchestrateBody"):
        # The task names the catalog knows (the brain answers 422 for any other).
        schemas[name]["properties"]["task"] = {"type": "string", "enum": [*tasks, *sorted(catalog.plans)]}
    schemas["SelectBody"]["properties"]["task"]["enum"] = tasks
    schemas["JobRequest"]["properties"]["task"] = {"type": "string", "enum": [*tasks, *sorted(catalog.plans)]}
    chat_body = schemas["ChatBody"]
    for field in _CHAT_EXTENSIONS:
        chat_body["properties"].setdefault(field, {})
    paths: dict[str, dict[str, Any]] = document["paths"]
    _body(paths, "/api/select-model", select)
    _body(paths, "/api/orchestrate", orchestrate)
    _body(paths, "/api/chat/completions", chat)
    _body(paths, "/api/jobs", job)
    for path, schema in _MEDIA_BODIES.items():
        _body(paths, path, schema)
    _answer(paths, "/api/select-model", selected)
    _answer(paths, "/api/orchestrate", plan)
    for chat_operation in _posts(paths, "/api/chat/completions"):
        _chat_answers(chat_operation)
    _event_stream(paths["/api/jobs/{job_id}/events"]["get"])
    _accepted(paths)
    for path, operations in paths.items():
        if not path.startswith(("/api/", "/v1/")):
            continue
        for method, operation in operations.items():
            extra = _EXTRA.get(path.replace("/v1/", "/api/", 1), ())
            statuses = (*_ANY_ROUTE, *extra, *(_WITH_BODY if method == "post" else ()))
            _errors(operation, statuses, envelope)


def _body(paths: dict[str, dict[str, Any]], path: str, schema: dict[str, Any]) -> None:
    for operation in _posts(paths, path):
        operation.setdefault("requestBody", {"required": True, "content": {"application/json": {"schema": schema}}})


def _answer(paths: dict[str, dict[str, Any]], path: str, schema: dict[str, Any]) -> None:
    for operation in _posts(paths, path):
        operation["responses"]["200"]["content"] = {"application/json": {"schema": schema}}


def _posts(paths: dict[str, dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The POST operation at `path`, and at its OpenAI-style `/v1` alias where one is routed."""
    return [paths[p]["post"] for p in (path, path.replace("/api/", "/v1/", 1)) if "post" in paths.get(p, {})]


def _accepted(paths: dict[str, dict[str, Any]]) -> None:
    """The job answers: `POST /api/jobs` is 202 (200 once it ended, or for a repeated
    Idempotency-Key); a media endpoint with `Prefer: respond-async` is 202 with the job."""
    object_schema = {"type": "object", "required": ["id", "object", "status"]}
    submit = paths["/api/jobs"]["post"]["responses"]
    submit["202"]["links"] = _JOB_LINKS
    submit["200"] = {**submit["202"], "description": "The job, already ended or submitted before"}
    for path in _MEDIA_BODIES.keys() | {"/api/audio/transcriptions", "/api/videos"}:
        responses = paths[path]["post"]["responses"]
        if path != "/api/videos":
            responses["202"] = {
                "description": "`Prefer: respond-async`: the job, to follow at /api/jobs/{id}",
                "content": {"application/json": {"schema": object_schema}},
            }


# One Server-Sent Event as a client reads it (api/sse.py): its data line(s), and a job
# event's id and type.
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
}


def _chat_answers(operation: dict[str, Any]) -> None:
    """A completion as JSON, or with `stream: true` its chunks as Server-Sent Events."""
    operation["responses"]["200"]["content"] = {
        "application/json": {"schema": {"type": "object"}},
        "text/event-stream": {"schema": _SSE_EVENT},
    }


def _event_stream(operation: dict[str, Any]) -> None:
    operation["responses"]["200"]["content"] = {"text/event-stream": {"schema": _SSE_EVENT}}


def _errors(operation: dict[str, Any], statuses: tuple[str, ...], envelope: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's pydantic error shape: ours is the envelope
    for status in sorted(set(statuses)):
        responses[status] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": envelope}},
        }
