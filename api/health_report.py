"""What `/health` reports: Redis, live workers per queue class, LiteLLM as workers last saw it,
the artifact store and the catalog; `/health/ready` uses the Redis check alone.

Only Redis being down makes the gateway `down` (503): with the artifact store unusable it still
answers everything but media, so it reports `degraded` naming the store."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from redis.exceptions import RedisError

from api.state import AppState
from catalog.schema import QUEUE_CLASSES
from queues import keys, presence

Status = Literal["ok", "degraded", "down"]
REDIS_CHECK_TIMEOUT_S = 1.0
STORE_CHECK_TIMEOUT_S = 2.0


class Check(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: Status
    detail: str | None = None
    data: dict[str, Any] | None = None


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    checks: dict[str, Check]
    reasons: list[str]


async def check_redis(state: AppState) -> Check:
    try:
        await asyncio.wait_for(state.redis.ping(), REDIS_CHECK_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return Check(status="down", detail=f"Redis unreachable ({type(exc).__name__})")
    return Check(status="ok")


async def check_workers(state: AppState) -> Check:
    """Live workers per queue class, as their heartbeats announce them."""
    counts: dict[str, Any] = dict(await presence.live_counts(state.redis, QUEUE_CLASSES))
    missing = [q for q, n in counts.items() if n == 0]
    if missing:
        return Check(status="degraded", detail=f"no live worker for queue class {', '.join(missing)}", data=counts)
    return Check(status="ok", data=counts)


async def check_litellm(state: AppState) -> Check:
    """The gateway never calls LiteLLM; it reports what the workers last recorded."""
    seen = await state.redis.hgetall(keys.LITELLM_SEEN)  # type: ignore[misc]
    if not seen:
        return Check(status="degraded", detail="no worker has reported on LiteLLM yet")
    fields = {k.decode(): v.decode() for k, v in seen.items()}
    status: Status = "ok" if fields.get("status") == "ok" else "degraded"
    return Check(status=status, detail=fields.get("detail"), data=fields)


async def check_artifact_store(state: AppState) -> Check:
    """Whether artifacts can be written and served now (the store's own cheap probe)."""
    backend = state.store.backend
    try:
        health = await asyncio.wait_for(state.store.check(), STORE_CHECK_TIMEOUT_S)
    except TimeoutError:
        return Check(status="degraded", detail=f"{backend} store did not answer within {STORE_CHECK_TIMEOUT_S:g} s")
    if not health.ok:
        return Check(status="degraded", detail=f"{backend} store unusable ({health.detail})", data={"backend": backend})
    return Check(status="ok", data={"backend": backend})


def check_catalog(state: AppState) -> Check:
    catalog = state.catalog
    return Check(
        status="ok",
        data={
            "version": catalog.version,
            "models": len(catalog.models),
            "enabled_models": sum(1 for m in catalog.models.values() if m.enabled),
            "tasks": len(catalog.tasks),
            "plans": len(catalog.plans),
            "providers": len(catalog.providers),
        },
    )


async def health_report(state: AppState) -> HealthReport:
    checks: dict[str, Check] = {
        "redis": await check_redis(state),
        "catalog": check_catalog(state),
        "artifacts": await check_artifact_store(state),
    }
    if checks["redis"].status == "ok":
        try:
            checks["workers"] = await check_workers(state)
            checks["litellm"] = await check_litellm(state)
        except (RedisError, OSError) as exc:
            checks["redis"] = Check(status="down", detail=f"Redis failed mid-check ({type(exc).__name__})")
    reasons = [f"{name}: {c.detail}" for name, c in checks.items() if c.status != "ok" and c.detail]
    overall: Status = "ok"
    if checks["redis"].status == "down":
        overall = "down"
    elif any(c.status != "ok" for c in checks.values()):
        overall = "degraded"
    return HealthReport(status=overall, checks=checks, reasons=reasons)
