"""Probes: `/health` (full report), `/health/live` (process up), `/health/ready` (can serve)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.body import encode
from api.deps import State
from api.health_report import check_redis, health_report

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(state: State) -> Response:
    report = await health_report(state)
    return Response(encode(report), status_code=503 if report.status == "down" else 200, media_type="application/json")


@router.get("/health/live")
async def live() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/health/ready")
async def ready(state: State) -> Response:
    redis = await check_redis(state)
    if redis.status != "ok":
        body = encode({"status": "down", "reasons": [f"redis: {redis.detail}"]})
        return Response(body, status_code=503, media_type="application/json")
    return Response(b'{"status":"ok"}', media_type="application/json")
