"""The FastAPI application factory: wires state, error handlers, middleware and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.body import encode
from api.errors import APIError, ErrorBody, ErrorEnvelope, redis_unavailable
from api.fastlane import FastLane, Lane
from api.middleware import ObservabilityMiddleware
from api.provider_health import ProviderHealth
from api.queue_stats import QueueStats
from api.routes import catalog as catalog_routes
from api.routes import chat, health, jobs, selection
from api.state import AppState
from brain import Index
from catalog import Catalog
from metrics.definitions import GatewayMetrics
from queues.redis import connect
from queues.settings import Settings, SettingsError

log = logging.getLogger("mpc.api")


def create_app(settings: Settings, catalog: Catalog) -> FastAPI:
    if not settings.api_key_hashes:
        raise SettingsError("no API keys configured: set MPC_API_KEYS=<key>[,<key>…] (each at least 16 characters)")
    metrics = GatewayMetrics()
    index = Index(catalog)  # built once per catalog load, before the first request
    for model in catalog.models.values():
        metrics.catalog_models.labels(model.provider, model.modality).inc()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect(settings.redis_url)
        blocking = connect(settings.redis_url, socket_timeout=None)
        provider_health = ProviderHealth(redis, catalog.providers, metrics)
        queue_stats = QueueStats(redis, metrics)
        app.state.mpc = AppState(
            settings=settings,
            catalog=catalog,
            redis=redis,
            blocking_redis=blocking,
            metrics=metrics,
            index=index,
            provider_health=provider_health,
        )
        provider_health.start()
        queue_stats.start()
        try:
            yield
        finally:
            await queue_stats.stop()
            await provider_health.stop()
            await redis.aclose()
            await blocking.aclose()

    app = FastAPI(
        title="MPC-API",
        version="0.1.0",
        summary="Task-based model gateway",
        lifespan=lifespan,
    )
    # Added first, so it runs inside the observability middleware (added last = outermost).
    lanes = {
        ("POST", "/api/select-model"): Lane(selection.select_model_lane),
        ("POST", "/api/chat/completions"): Lane(chat.chat_completions_lane, watch_client=True),
    }
    app.add_middleware(FastLane, routes=lanes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    _install_error_handlers(app)
    # Routes are matched in order: the hot ones first (no paths overlap, so only the
    # OpenAPI document's order changes).
    app.include_router(selection.router)
    app.include_router(jobs.router)
    app.include_router(chat.router)
    app.include_router(catalog_routes.router)
    app.include_router(health.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def error_response(error: APIError) -> Response:
    return Response(
        encode(error.envelope()), status_code=error.status, headers=error.headers, media_type="application/json"
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def on_api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return error_response(exc)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def on_redis_down(_: Request, exc: Exception) -> Response:
        log.warning("redis unavailable: %s", type(exc).__name__)
        return error_response(redis_unavailable())

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        message = f"{first.get('msg', 'invalid request')}" + (f" (at '{param}')" if param else "")
        body = ErrorEnvelope(
            ErrorBody(message=message, type="invalid_request_error", code="invalid_value", param=param)
        )
        return Response(encode(body), status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        body = ErrorEnvelope(ErrorBody(message=str(exc.detail), type="invalid_request_error", code=code))
        return Response(encode(body), status_code=exc.status_code, headers=exc.headers, media_type="application/json")

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error: %s", type(exc).__name__)
        body = ErrorEnvelope(ErrorBody(message="Internal server error.", type="server_error", code="internal_error"))
        return Response(encode(body), status_code=500, media_type="application/json")
