"""OpenAI's Videos API: `POST /api/videos`, `GET /api/videos`, `GET /api/videos/{id}`,
`GET /api/videos/{id}/content`, `DELETE /api/videos/{id}` (api/videos.py maps them onto jobs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import videos
from api.deps import Owner, State
from api.responses import MsgspecResponse

router = APIRouter(prefix="/api/videos", tags=["videos"])

_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string"},
                        "model": {"type": "string"},
                        "seconds": {"type": "string"},
                        "size": {"type": "string"},
                        "input_reference": {"type": "string", "format": "binary"},
                    },
                }
            },
            "application/json": {"schema": {"type": "object", "required": ["prompt"]}},
        },
    }
}


@router.post("", openapi_extra=_CREATE_BODY)
async def create_video(request: Request, state: State, owner: Owner) -> Response:
    video, headers = await videos.create(state, request, owner)
    return MsgspecResponse(video, headers=headers)


@router.get("")
async def list_videos(
    state: State, owner: Owner, after: str | None = None, limit: str | None = None, order: str | None = None
) -> Response:
    return MsgspecResponse(await videos.list_videos(state, owner, after=after, limit=limit, order=order))


@router.get("/{video_id}")
async def get_video(video_id: str, state: State, owner: Owner) -> Response:
    return MsgspecResponse(videos.video_object(await videos.owned_video(state, owner, video_id)))


@router.get("/{video_id}/content")
async def get_video_content(
    video_id: str, request: Request, state: State, owner: Owner, variant: str | None = None
) -> Response:
    return await videos.content(state, request, owner, video_id, variant)


@router.delete("/{video_id}")
async def delete_video(video_id: str, state: State, owner: Owner) -> Response:
    return MsgspecResponse(await videos.delete(state, owner, video_id))
