"""The image a video starts from: an upload in the artifact store, or an https URL fetched
under the download rules (no redirects, a size and time cap); either way it must sniff as an
image before a provider is paid to animate it."""

from __future__ import annotations

import httpx

from artifacts import ArtifactNotFound, ArtifactStore, ArtifactStoreUnavailable, sniff
from catalog.inputs import ImageReference
from workers._download import DownloadError, read_all, shown
from workers.errors import JobFailed
from workers.litellm import VideoReference
from workers.media import store_unavailable

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # above every video provider's input image limit
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


async def reference_of(
    image: ImageReference, store: ArtifactStore, http: httpx.AsyncClient, *, timeout_s: float
) -> VideoReference:
    if image.file_id is not None:
        content, param = await _upload(store, image.file_id), "input.image.file_id"
        public_url = await _signed_link(store, image.file_id)
    else:
        assert image.url is not None  # ImageReference.check: exactly one of the two
        param = "input.image.url"
        public_url = image.url
        try:
            content = await read_all(http, image.url, max_bytes=MAX_IMAGE_BYTES, timeout_s=timeout_s)
        except DownloadError as exc:
            raise _bad_image(
                f"The image could not be fetched: {exc.message}", param, code="image_fetch_failed"
            ) from None
    found = [t for t in sniff(content[:64]) if t in _EXTENSIONS]
    if not found:
        where = image.file_id if image.file_id is not None else shown(image.url or "")
        raise _bad_image(f"{where} is not a PNG, JPEG, WebP or GIF image.", param, code="invalid_image")
    return VideoReference(f"image.{_EXTENSIONS[found[0]]}", found[0], content, public_url)


async def _signed_link(store: ArtifactStore, file_id: str) -> str:
    """A short-lived signed link to the upload: how a provider that takes images only by URL
    (fal) reads it. It reaches the provider only if the gateway's address is public."""
    try:
        return (await store.describe(file_id, "content")).url
    except ArtifactNotFound:
        raise _upload_gone(file_id) from None
    except ArtifactStoreUnavailable as exc:
        raise store_unavailable(exc) from None


async def _upload(store: ArtifactStore, file_id: str) -> bytes:
    out = bytearray()
    try:
        async with await store.open(file_id, "content") as stream:
            if stream.length > MAX_IMAGE_BYTES:
                raise _bad_image(f"The file {file_id} is over {MAX_IMAGE_BYTES} bytes.", "input.image.file_id")
            async for chunk in stream:
                out += chunk
    except ArtifactNotFound:
        raise _upload_gone(file_id) from None
    except ArtifactStoreUnavailable as exc:
        raise store_unavailable(exc) from None
    return bytes(out)


def _bad_image(message: str, param: str, *, code: str = "invalid_image") -> JobFailed:
    return JobFailed(message, type="invalid_request_error", code=code, param=param, status=400)


def _upload_gone(file_id: str) -> JobFailed:
    return JobFailed(
        f"The file {file_id} does not exist any more (uploads expire after 24 hours).",
        type="invalid_request_error",
        code="file_not_found",
        param="input.image.file_id",
        status=404,
    )
