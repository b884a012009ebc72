"""A job's artifacts: `GET /api/jobs/{id}/artifacts/{name}` with the API key (owner-checked like
the job), and the signed links the store mints (`GET /api/artifacts/{job_id}/{name}?expires=
&signature=`), which work without it, for an `<audio>` tag or a platform that downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import job_service
from api.artifact_serving import artifact_response
from api.deps import Owner, State
from api.errors import Forbidden

router = APIRouter(tags=["artifacts"])


@router.get("/api/jobs/{job_id}/artifacts/{name}")
async def job_artifact(job_id: str, name: str, request: Request, state: State, owner: Owner) -> Response:
    await job_service.owned_job(state, owner, job_id)
    return await artifact_response(state.store, job_id, name, request.headers)


# The path is the store's `local_url_base` (artifacts.StoreConfig's default).
@router.get("/api/artifacts/{job_id}/{name}")
async def signed_artifact(
    job_id: str, name: str, request: Request, state: State, expires: str = "", signature: str = ""
) -> Response:
    if not expires or not signature:
        raise Forbidden("This link is not signed: ask the API for the artifact's url.", code="signed_url_invalid")
    state.store.verify_signed_url(job_id, name, expires, signature)
    return await artifact_response(state.store, job_id, name, request.headers)
