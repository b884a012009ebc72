"""A job as a client sees it, with each artifact of its output described afresh.

The worker's description of an artifact carries a placeholder `url`, and a stored link would
expire: every time the gateway shows a job it asks the store to describe each listed artifact
again, for a freshly signed link, made absolute (`MPC_PUBLIC_URL`, else the request's own base
URL) so a client can hand it to an `<audio>` tag or a platform that downloads it. A job whose
output lists no artifacts costs nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from starlette.requests import Request

from api.state import AppState
from artifacts import ArtifactError, ArtifactNotFound, ArtifactStore
from queues.jobs import JobRecord, PublicJob, public_view

log = logging.getLogger("mpc.api")


def public_base(state: AppState, request: Request) -> str:
    """The gateway's base URL as clients reach it (the app's root path included)."""
    return state.settings.public_url or str(request.base_url).rstrip("/")


def absolute(url: str, base: str) -> str:
    """A store link made absolute; an S3 presigned link already is."""
    return base + url if url.startswith("/") else url


def listed_artifacts(output: Any) -> list[Any] | None:
    found = output.get("artifacts") if isinstance(output, dict) else None
    return found if isinstance(found, list) and found else None


async def fresh_artifacts(store: ArtifactStore, job_id: str, listed: list[Any], base: str) -> list[Any]:
    """Each listed artifact described again by the store. One that is gone (expired, deleted)
    or that the store cannot describe now keeps the worker's description with `url: null`."""
    return list(await asyncio.gather(*(_fresh(store, job_id, entry, base) for entry in listed)))


async def _fresh(store: ArtifactStore, job_id: str, entry: Any, base: str) -> Any:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str):
        return entry
    try:
        artifact = await store.describe(job_id, name)
    except ArtifactNotFound:
        return {**entry, "url": None}
    except ArtifactError as exc:
        log.warning("could not describe artifact %s of %s: %s", name, job_id, exc.message)
        return {**entry, "url": None}
    described: dict[str, Any] = msgspec.to_builtins(artifact)
    described["url"] = absolute(artifact.url, base)
    return described


async def job_view(state: AppState, request: Request, record: JobRecord) -> PublicJob:
    """`public_view(record)`, its output's artifacts with fresh absolute links."""
    view = public_view(record)
    listed = listed_artifacts(record.output)
    if listed is None:
        return view
    artifacts = await fresh_artifacts(state.store, record.id, listed, public_base(state, request))
    return msgspec.structs.replace(view, output={**record.output, "artifacts": artifacts})
