"""fal's synchronous image endpoints under ``/fal`` (= LiteLLM ``api_base``); video models'
queue API is ``fal_video``.

LiteLLM posts ``{api_base}/{endpoint}`` where the endpoint is the model family's
(``fal_endpoint``): e.g. ``fal-ai/imagen4/preview/fast`` is posted to ``fal-ai/imagen4/preview``.
The path after ``/fal/`` is the model the emulator logs and takes settings for. Auth is
``Authorization: Key <key>``. The size comes from ``image_size`` (a preset name or
``{width, height}``) or ``aspect_ratio`` (flux-pro ultra, imagen4); the answer is
``{images: [{url, width, height, content_type}], ...}`` with URLs the emulator serves
(``GET /media/{name}``). Errors are ``{"detail": message}``.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator import fal_video, media
from sandbox.emulator.behaviour import strip_directives
from sandbox.emulator.calls import Call, begin
from sandbox.emulator.media_http import media_url
from sandbox.emulator.transport import EmulatedResponse, dump

PREFIX = "/fal"
PROVIDER = "fal"
IMAGE_SIZE_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
ULTRA_SIZES = {
    "1:1": (2048, 2048),
    "16:9": (2752, 1536),
    "9:16": (1536, 2752),
    "4:3": (2368, 1792),
    "3:4": (1792, 2368),
    "21:9": (3136, 1344),
    "9:21": (1344, 3136),
}
IMAGEN4_SIZES = {"1:1": (1024, 1024), "16:9": (1408, 768), "9:16": (768, 1408), "3:4": (896, 1280), "4:3": (1280, 896)}
DEFAULT_SIZE = IMAGE_SIZE_PRESETS["landscape_4_3"]
# LiteLLM's image families (llms/fal_ai/image_generation/__init__.py), checked in its order.
_FAMILIES: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("gpt-image-2",), "openai/gpt-image-2"),
    (("nano-banana", "gemini-25-flash-image"), "fal-ai/nano-banana"),
    (("imagen4", "imagen-4"), "fal-ai/imagen4/preview"),
    (("recraft",), "fal-ai/recraft/v3/text-to-image"),
    (("bria",), "bria/text-to-image/3.2"),
    (("flux-pro",), None),  # v1.1 or v1.1-ultra, below
    (("flux/dev", "flux-dev"), "fal-ai/flux/dev"),
    (("flux/schnell", "flux-schnell", "schnell"), "fal-ai/flux/schnell"),
    (("bytedance/seedream",), "fal-ai/bytedance/seedream/v3/text-to-image"),
    (("bytedance/dreamina",), "fal-ai/bytedance/dreamina/v3.1/text-to-image"),
    (("ideogram",), "fal-ai/ideogram/v3"),
)


def fal_endpoint(model: str) -> str:
    """The path LiteLLM 1.106.12 posts a fal image ``model`` to (relative to api_base); ""
    for a model of no known family (it is posted to the bare api_base)."""
    lower = model.lower()
    for needles, endpoint in _FAMILIES:
        if any(needle in lower for needle in needles):
            if endpoint is None:
                return "fal-ai/flux-pro/v1.1-ultra" if "ultra" in lower else "fal-ai/flux-pro/v1.1"
            return endpoint
    if "stable-diffusion" in lower:
        return model
    return ""


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"detail": message}


def _size(call: Call, body: dict[str, Any]) -> tuple[int, int]:
    size = body.get("image_size")
    if isinstance(size, str):
        preset = IMAGE_SIZE_PRESETS.get(size)
        if preset is None:
            raise media.MediaError(f"image_size {size!r} is not one of {', '.join(IMAGE_SIZE_PRESETS)}")
        return preset
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if not isinstance(width, int) or not isinstance(height, int):
            raise media.MediaError("image_size needs integer width and height")
        media.parse_size(f"{width}x{height}")  # range check
        return width, height
    ratio = body.get("aspect_ratio")
    if ratio is not None:
        table = ULTRA_SIZES if "ultra" in call.model else IMAGEN4_SIZES
        if str(ratio) not in table:
            raise media.MediaError(f"aspect_ratio {ratio!r} is not one of {', '.join(table)}")
        return table[str(ratio)]
    return DEFAULT_SIZE


async def generate(request: Request) -> EmulatedResponse:
    path: str = request.path_params.get("path", "")
    call = await begin(request, PROVIDER, error_shape, model=path.strip("/") or "(bare base)")
    if fal_video.is_video_model(call.model):
        return await fal_video.submit(call)
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme != "Key" or not key.strip():
        return call.error(401, "No user found for Key ID and Secret (emulated: expected Authorization: Key <key>)")
    body = call.json_body
    if body is None or not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        return call.error(422, "prompt: field required")
    count = body.get("num_images") or 1
    if not isinstance(count, int) or not 1 <= count <= 4:
        return call.error(422, f"num_images must be between 1 and 4, got {count!r}")
    fmt = body.get("output_format") or "jpeg"
    if fmt not in media.IMAGE_TYPES:
        return call.error(422, f"output_format must be jpeg or png, got {fmt!r}")
    try:
        width, height = _size(call, body)
    except media.MediaError as exc:
        return call.error(422, str(exc))
    behaviour = call.resolve_or_error(body["prompt"])
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    prompt = strip_directives(body["prompt"])
    images = []
    for index in range(count):
        picture = await media.image(f"{prompt}\0{index}", width, height, cast(media.ImageFormat, fmt))
        content_type = media.IMAGE_TYPES[fmt]
        url = media_url(call, picture, content_type, fmt)
        images.append({"url": url, "width": width, "height": height, "content_type": content_type})
    out = {
        "images": images,
        "timings": {"inference": 0.01},
        "seed": int.from_bytes(prompt.encode()[:4].ljust(4, b"\0"), "big"),
        "has_nsfw_concepts": [False] * count,
        "prompt": prompt,
    }
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


def routes() -> list[Route]:
    return [Route(f"{PREFIX}/{{path:path}}", generate, methods=["POST"]), Route(PREFIX, generate, methods=["POST"])]
