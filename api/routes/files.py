"""`POST /api/files`, `GET /api/files/{id}`, `GET /api/files/{id}/content`, `DELETE /api/files/{id}`
(OpenAI's Files API shapes; uploads for transcription and, later, image inputs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import file_service
from api.artifact_serving import artifact_response
from api.deps import Owner, State
from api.responses import MsgspecResponse
from queues.files import UPLOAD_ARTIFACT

router = APIRouter(prefix="/api/files", tags=["files"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": list(file_service.PURPOSES)},
                    },
                }
            }
        },
    }
}


@router.post("", openapi_extra=_UPLOAD_BODY)
async def create_file(request: Request, state: State, owner: Owner) -> Response:
    record = await file_service.create_file(state, owner, request)
    return MsgspecResponse(file_service.file_object(record))


@router.get("/{file_id}")
async def get_file(file_id: str, state: State, owner: Owner) -> Response:
    record = await file_service.owned_file(state, owner, file_id)
    return MsgspecResponse(file_service.file_object(record))


@router.get("/{file_id}/content")
async def get_file_content(file_id: str, request: Request, state: State, owner: Owner) -> Response:
    record = await file_service.owned_file(state, owner, file_id)
    return await artifact_response(
        state.store, record.id, UPLOAD_ARTIFACT, request.headers, disposition="attachment", filename=record.filename
    )


@router.delete("/{file_id}")
async def delete_file(file_id: str, state: State, owner: Owner) -> Response:
    record = await file_service.remove_file(state, owner, file_id)
    return MsgspecResponse({"id": record.id, "object": "file", "deleted": True})
