"""The FastAPI application factory: wires state, error handlers, middleware and routes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from api.artifact_sweep import ARTIFACT_SWEEP_S, sweep_expired
from api.errors import EXPECTED_ERRORS, internal_error, to_api_error
from api.fastlane import FastLane, Lane
from api.keyring import KEYS_REFRESH_S, KeyRing
from api.limiter import Limiter
from api.middleware import CLIENT_CLOSED_REQUEST, ObservabilityMiddleware
from api.openapi_doc import install_openapi
from api.path_aliases import PathAliases
from api.provider_health import PROVIDER_HEALTH_REFRESH_S, ProviderHealth
from api.queue_stats import QUEUE_STATS_SAMPLE_S, QueueStats
from api.refresh import refreshing
from api.responses import error_response
from api.routes import admin, chat, files, health, jobs, media, selection, webhooks
from api.routes import artifacts as artifact_routes
from api.routes import catalog as catalog_routes
from api.routes import videos as video_routes
from api.state import AppState
from api.stream_slots import StreamSlots
from artifacts import StoreConfig, open_store
from brain import Index
from catalog import Catalog
from metrics.definitions import GatewayMetrics
from queues.redis import connect
from queues.retention import Retention
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
        store = await open_store(
            StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
        )
        redis = connect(settings.redis_url, replica_acks=settings.replica_acks())
        blocking = connect(settings.redis_url, socket_timeout=None)
        provider_health = ProviderHealth(redis, catalog.providers, metrics)
        queue_stats = QueueStats(redis, metrics)
        keyring = KeyRing(redis, settings.api_key_hashes)
        with contextlib.suppress(RedisError, OSError):  # then the refresh loop tries again
            await keyring.refresh()  # managed keys work from the first request
        app.state.mpc = AppState(
            settings=settings,
            catalog=catalog,
            redis=redis,
            blocking_redis=blocking,
            metrics=metrics,
            index=index,
            provider_health=provider_health,
            store=store,
            streams=StreamSlots(settings.max_streams_per_key),
            keyring=keyring,
            limiter=Limiter(redis),
            retention=Retention.from_settings(settings),
        )
        try:
            async with (
                refreshing(provider_health.refresh, every_s=PROVIDER_HEALTH_REFRESH_S, what="provider health refresh"),
                refreshing(keyring.refresh, every_s=KEYS_REFRESH_S, what="API keys refresh"),
                refreshing(queue_stats.sample, every_s=QUEUE_STATS_SAMPLE_S, what="queue sampling"),
                refreshing(lambda: sweep_expired(store), every_s=ARTIFACT_SWEEP_S, what="artifact sweep"),
            ):
                yield
        finally:
            await redis.aclose()
            await blocking.aclose()
            await store.aclose()

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
        ("POST", "/api/completions"): Lane(chat.completions_lane, watch_client=True),
    }
    app.add_middleware(FastLane, routes=lanes)
    if settings.cors_origins:
        # Outside the fast lane, so its answers carry the CORS headers too; preflights
        # (OPTIONS) are answered here for every route alike.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(PathAliases)  # outermost: an alias is the /api/… route from the start
    _install_error_handlers(app)
    # Routes are matched in order: the hot ones first (no paths overlap, so only the
    # OpenAPI document's order changes).
    app.include_router(selection.router)
    app.include_router(jobs.router)
    app.include_router(chat.router)
    app.include_router(media.router)
    app.include_router(video_routes.router)
    app.include_router(files.router)
    app.include_router(webhooks.router)
    app.include_router(artifact_routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(admin.router)
    app.include_router(health.router)

    install_openapi(app, catalog)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


# What browsers may do cross-origin: call any route with a key (never with cookies: the
# gateway has none), and read the headers that say which model and job answered.
CORS_METHODS = ("GET", "POST", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Prefer", "Last-Event-ID", "X-Request-Id")
CORS_EXPOSED_HEADERS = ("X-Request-Id", "X-MPC-Model", "X-MPC-Task", "X-MPC-Job-Id", "Location", "Retry-After")


def _install_error_handlers(app: FastAPI) -> None:
    async def on_expected(request: Request, exc: Exception) -> Response:
        error = to_api_error(exc)
        if error.status == 405:
            # Starlette names only the first route that matched the path; a path may have
            # routes for several methods (GET and DELETE of a file).
            error.headers["Allow"] = ", ".join(_methods_of(request))
        return error_response(error)

    for error_class in EXPECTED_ERRORS:
        app.add_exception_handler(error_class, on_expected)

    @app.exception_handler(ClientDisconnect)
    async def on_client_gone(_: Request, exc: Exception) -> Response:
        # The client left (or was dropped for a stalled body) while its body was read:
        # nobody reads this answer; its status is what the access log and metrics record.
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_response(internal_error())


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _methods_of(request: Request) -> list[str]:
    """Every method some route serves at the request's path (asked of the router itself,
    so included routers and their prefixes count as they do when routing)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
