"""image_generate: images through LiteLLM's /v1/images/generations, stored as artifacts.

LiteLLM is asked for `b64_json`; a provider that answers URLs (fal) is downloaded (http(s),
no redirects, a size and time cap). An image whose format is not the one asked for is
converted with ffmpeg; ffprobe gives each image's width and height.

Output: `{"model", "created", "artifacts": [image-1.png, …], "revised_prompts": [str|None, …]}`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from artifacts import ArtifactMetadata, sniff
from catalog.inputs import ImageInput, parse_task_input
from workers import _ffmpeg
from workers._download import DownloadError, read_all
from workers._streams import closing
from workers.context import JobContext
from workers.fallback import Attempt, ChainWalker
from workers.litellm import bad_response
from workers.media import MediaDeps, encoded, write_artifact

OPERATION = "generate_content"  # OTel gen_ai.operation.name
MAX_IMAGE_BYTES = 64 * 1024 * 1024
_EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}
_FFMPEG_FORMAT = {  # output_format -> ffmpeg encoder arguments for one still image
    "png": ["-c:v", "png", "-f", "image2pipe"],
    "jpeg": ["-c:v", "mjpeg", "-q:v", "3", "-f", "image2pipe"],
    "webp": ["-c:v", "libwebp", "-quality", "90", "-f", "webp"],
}


@dataclass(frozen=True, slots=True)
class ImageHandler:
    deps: MediaDeps
    walker: ChainWalker
    http: httpx.AsyncClient  # for providers that answer URLs

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        request: ImageInput = parse_task_input(job.task, job.input)

        async def call(attempt: Attempt) -> dict[str, Any]:
            body: dict[str, Any] = {
                "model": attempt.target.provider_id,
                "prompt": request.prompt,
                "n": request.n,
                "response_format": "b64_json",
                "num_retries": 0,
            }
            if request.size is not None:
                body["size"] = request.size
            if request.quality is not None:
                body["quality"] = request.quality
            if request.output_format != "png":
                body["output_format"] = request.output_format
            items: list[Any] = []
            # Some providers make one image per call whatever `n` says (Gemini's image models
            # through LiteLLM): ask again for the rest, at most `n` calls in all.
            for _ in range(request.n):
                body["n"] = request.n - len(items)
                answer = await self.deps.litellm.image_generation(body, timeout_s=self.deps.timeouts.image_s)
                got = answer.get("data")
                if not isinstance(got, list) or not got:
                    raise bad_response("The model answered no image.")
                items.extend(got)
                if len(items) >= request.n:
                    break
            await attempt.succeeded(usage=answer.get("usage"))
            artifacts, revised = [], []
            for index, item in enumerate(items[: request.n], start=1):
                content = await self._content(item)
                content = await _as_format(content, request.output_format)
                width, height = await _measured(content)
                name = f"image-{index}.{_EXTENSIONS[request.output_format]}"
                artifact = await write_artifact(
                    self.deps.store,
                    job,
                    name,
                    _once(content),
                    content_type=request.media_type,
                    metadata=ArtifactMetadata(width=width, height=height),
                )
                artifacts.append(encoded(artifact))
                revised.append(item.get("revised_prompt") if isinstance(item, dict) else None)
            created = answer.get("created")
            return {
                "model": attempt.target.id,
                "created": created if isinstance(created, int) else int(time.time()),
                "artifacts": artifacts,
                "revised_prompts": revised,
            }

        return await self.walker.walk(job, call)

    async def _content(self, item: Any) -> bytes:
        if not isinstance(item, dict):
            raise bad_response("The model answered a malformed image entry.")
        if isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise bad_response("The model answered an image that is not valid base64.") from None
        if isinstance(item.get("url"), str):
            try:
                return await read_all(
                    self.http, item["url"], max_bytes=MAX_IMAGE_BYTES, timeout_s=self.deps.timeouts.image_s
                )
            except DownloadError as exc:
                raise bad_response(f"The model's image could not be downloaded: {exc.message}") from None
        raise bad_response("The model answered an image with neither b64_json nor url.")


async def _as_format(content: bytes, output_format: str) -> bytes:
    found = sniff(content[:64])
    if f"image/{output_format}" in found:
        return content
    if not found or not found[0].startswith("image/"):
        raise bad_response("The model answered something that is not an image.")
    out = bytearray()
    args = ["-v", "error", "-i", "pipe:0", "-frames:v", "1", *_FFMPEG_FORMAT[output_format], "pipe:1"]
    try:
        async with closing(_ffmpeg.filtered(args, _once(content))) as converted:
            async for chunk in converted:
                out += chunk
    except _ffmpeg.MediaToolError as exc:
        raise bad_response(f"The model's image could not be converted to {output_format}: {exc.detail}") from None
    return bytes(out)


async def _measured(content: bytes) -> tuple[int, int]:
    try:
        return await _ffmpeg.image_size(content)
    except _ffmpeg.MediaToolError as exc:
        raise bad_response(f"The model's image cannot be read: {exc.detail}") from None


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content
