"""How a video is created, polled, fetched and cancelled, per way of reaching its provider.

Most providers go through LiteLLM's video API (`/v1/videos`: Veo, Runway, fal and Pika on
fal); HeyGen, which LiteLLM has no provider for, through LiteLLM's `/heygen` pass-through
with HeyGen's own paths. Both are reduced here to one shape: a create that answers the
provider's video id, a status (`queued`, `in_progress`, `completed`, `failed`, with progress
where the provider reports it), the content as a byte stream, and a cancel where the
provider's API has one.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from catalog.inputs import VideoInput
from workers._download import DownloadError, download
from workers.litellm import LiteLLMClient, UpstreamError, VideoReference, bad_response

MAX_VIDEO_BYTES = 2 * 1024 * 1024 * 1024  # a 4K minute of H.264 is well under this
HEYGEN = "heygen"
_HEYGEN_AGENT = "heygen/video-agent"
_HEYGEN_AVATAR_IV = "heygen/avatar-iv"
# HeyGen's words -> the OpenAI video statuses LiteLLM answers for every other provider.
_HEYGEN_STATUS = {
    "pending": "queued",
    "waiting": "queued",
    "processing": "in_progress",
    "completed": "completed",
    "failed": "failed",
}
_REFERENCE_BY_STRING = frozenset({"runwayml", "fal", "pika"})
_STATUSES = frozenset({"queued", "in_progress", "completed", "failed"})


@dataclass(frozen=True, slots=True)
class VideoStatus:
    status: str  # queued, in_progress, completed, failed
    progress: float | None  # 0..1, when the provider reports it
    error: str | None = None  # the provider's reason, when failed
    content_url: str | None = None  # HeyGen delivers by URL


@dataclass(frozen=True, slots=True)
class VideoWires:
    litellm: LiteLLMClient
    downloads: httpx.AsyncClient  # result URLs (HeyGen): no credentials, no redirects

    async def create(
        self,
        *,
        model_id: str,
        provider: str,
        provider_id: str,
        request: VideoInput,
        seconds: int | None,
        size: str,
        reference: VideoReference | None,
        timeout_s: float,
    ) -> str:
        """One create call; the provider's video id."""
        if provider == HEYGEN:
            return await self._heygen_create(model_id, request, size, timeout_s)
        fields = {"model": provider_id, "prompt": request.prompt or "", "size": size}
        if seconds is not None:
            fields["seconds"] = str(seconds)  # a string, as the SDK sends it
        upload = reference
        if reference is not None and provider in _REFERENCE_BY_STRING:
            # LiteLLM's Runway adapter passes `input_reference` on as Runway's `promptImage`
            # (a URL or data URI) and its fal adapter wants a public URL: a file part fails both.
            fields["input_reference"] = _data_uri(reference) if provider == "runwayml" else reference.public_url
            upload = None
        answer = await self.litellm.video_create(fields, upload, timeout_s=timeout_s)
        video_id = answer.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise bad_response("The model's create answer has no video id.")
        return video_id

    async def _heygen_create(self, model_id: str, request: VideoInput, size: str, timeout_s: float) -> str:
        width, height = (int(side) for side in size.split("x"))
        body: dict[str, Any]
        if model_id == _HEYGEN_AGENT:
            orientation = "portrait" if height > width else "landscape"
            path, body = "/v1/video_agent/generate", {"prompt": request.prompt, "config": {"orientation": orientation}}
        else:
            character: dict[str, Any] = {"type": "avatar", "avatar_id": request.avatar_id, "avatar_style": "normal"}
            if model_id == _HEYGEN_AVATAR_IV:
                character["use_avatar_iv_model"] = True
            voice = {"type": "text", "input_text": request.prompt or "", "voice_id": request.voice_id}
            body = {
                "video_inputs": [{"character": character, "voice": voice}],
                "dimension": {"width": width, "height": height},
            }
            path = "/v2/video/generate"
        answer = await self.litellm.heygen("POST", path, body=body, timeout_s=timeout_s)
        video_id = _data(answer).get("video_id")
        if not isinstance(video_id, str) or not video_id:
            raise bad_response("HeyGen's create answer has no video_id.")
        return video_id

    async def status(self, provider: str, video_id: str, *, timeout_s: float) -> VideoStatus:
        if provider == HEYGEN:
            answer = await self.litellm.heygen(
                "GET", f"/v1/video_status.get?video_id={quote(video_id, safe='')}", timeout_s=timeout_s
            )
            data = _data(answer)
            status = _HEYGEN_STATUS.get(str(data.get("status")), "in_progress")
            error = data.get("error")
            url = data.get("video_url")
            return VideoStatus(
                status=status,
                progress=None,
                error=_message(error),
                content_url=url if isinstance(url, str) and url else None,
            )
        answer = await self.litellm.video_status(video_id, timeout_s=timeout_s)
        status = str(answer.get("status"))
        if status not in _STATUSES:
            status = "in_progress"  # a word we do not know: keep polling until the deadline
        progress = answer.get("progress")
        fraction = min(1.0, max(0.0, float(progress) / 100)) if isinstance(progress, int | float) else None
        return VideoStatus(status=status, progress=fraction, error=_message(answer.get("error")))

    @asynccontextmanager
    async def content(
        self, provider: str, video_id: str, status: VideoStatus, *, timeout_s: float
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        if provider != HEYGEN:
            async with self.litellm.video_content(video_id, timeout_s=timeout_s) as chunks:
                yield chunks
            return
        if status.content_url is None:
            raise UpstreamError(
                "HeyGen reported the video done without its URL.", status=404, code="video_not_found", fallback=False
            )
        try:
            async with download(
                self.downloads, status.content_url, max_bytes=MAX_VIDEO_BYTES, timeout_s=timeout_s
            ) as fetched:
                yield fetched.chunks
        except DownloadError as exc:
            raise UpstreamError(
                f"HeyGen's video could not be downloaded: {exc.message}",
                status=502,
                code="upstream_error",
                fallback=True,
            ) from None

    async def cancel(self, provider: str, video_id: str, *, timeout_s: float) -> None:
        """Ask the provider to stop (only for models whose catalog limits say `cancel`)."""
        if provider != HEYGEN:
            await self.litellm.video_delete(video_id, timeout_s=timeout_s)


def _data_uri(reference: VideoReference) -> str:
    return f"data:{reference.content_type};base64,{base64.b64encode(reference.content).decode()}"


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    if not isinstance(data, dict):
        raise bad_response("HeyGen answered without 'data'.")
    return data


def _message(error: Any) -> str | None:
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or error.get("code")
        return str(message)[:500] if message else "the provider reported a failure"
    if isinstance(error, str) and error:
        return error[:500]
    return None
