"""The OpenAI media endpoints: `POST /api/embeddings`, `/api/images/generations`,
`/api/audio/speech`, `/api/audio/transcriptions`. Each runs as a job on its task's queue class
and waits for it (`Prefer: respond-async`: 202 and the job at once)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import media_endpoints, speech
from api.deps import Owner, State
from api.fastlane import ClientGone
from api.media_jobs import gone

router = APIRouter(prefix="/api", tags=["media"])

_TRANSCRIPTION_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string"},
                        "language": {"type": "string"},
                        "prompt": {"type": "string"},
                        "response_format": {"type": "string", "enum": ["json", "text", "verbose_json", "srt", "vtt"]},
                        "temperature": {"type": "number"},
                    },
                }
            }
        },
    }
}


@router.post("/embeddings")
async def embeddings(request: Request, state: State, owner: Owner) -> Response:
    try:
        return await media_endpoints.embeddings(state, request, owner)
    except ClientGone:
        return gone()


@router.post("/images/generations")
async def images_generations(request: Request, state: State, owner: Owner) -> Response:
    try:
        return await media_endpoints.images(state, request, owner)
    except ClientGone:
        return gone()


@router.post("/audio/speech")
async def audio_speech(request: Request, state: State, owner: Owner) -> Response:
    return await speech.speech(state, request, owner)


@router.post("/audio/transcriptions", openapi_extra=_TRANSCRIPTION_FORM)
async def audio_transcriptions(request: Request, state: State, owner: Owner) -> Response:
    try:
        return await media_endpoints.transcriptions(state, request, owner)
    except ClientGone:
        return gone()
