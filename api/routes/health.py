"""Probes: `/health` (full report), `/health/live` (process up), `/health/ready` (can serve)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import State
from api.health_report import check_redis, health_report
from api.responses import MsgspecResponse

router = APIRouter(tags=["health"])
_OK = {"status": "ok"}


@router.get("/health")
async def health(state: State) -> Response:
    report = await health_report(state)
    return MsgspecResponse(report, status_code=503 if report.status == "down" else 200)


@router.get("/health/live")
async def live() -> Response:
    return MsgspecResponse(_OK)


@router.get("/health/ready")
async def ready(state: State) -> Response:
    redis = await check_redis(state)
    if redis.status != "ok":
        return MsgspecResponse({"status": "down", "reasons": [f"redis: {redis.detail}"]}, status_code=503)
    return MsgspecResponse(_OK)
