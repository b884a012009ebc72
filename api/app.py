"""The FastAPI application factory: wires state, error handlers, middleware and routes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from api.artifact_sweep import ARTIFACT_SWEEP_S, sweep_expired
from api.errors import EXPECTED_ERRORS, internal_error, to_api_error
from api.fastlane import FastLane, Lane
from api.keyring import KEYS_REFRESH_S, KeyRing
from api.limiter import Limiter
from api.middleware import ObservabilityMiddleware
from api.provider_health import PROVIDER_HEALTH_REFRESH_S, ProviderHealth
from api.queue_stats import QUEUE_STATS_SAMPLE_S, QueueStats
from api.refresh import refreshing
from api.responses import error_response
from api.routes import admin, chat, files, health, jobs, media, selection, webhooks
from api.routes import artifacts as artifact_routes
from api.routes import catalog as catalog_routes
from api.routes import videos as video_routes
from api.state import AppState
from artifacts import StoreConfig, open_store
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
        store = await open_store(
            StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
        )
        redis = connect(settings.redis_url)
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
            keyring=keyring,
            limiter=Limiter(redis),
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
    }
    app.add_middleware(FastLane, routes=lanes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
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

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def on_expected(_: Request, exc: Exception) -> Response:
        return error_response(to_api_error(exc))

    for error_class in EXPECTED_ERRORS:
        app.add_exception_handler(error_class, on_expected)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_response(internal_error())
