"""The audio a transcription job names: an upload in the artifact store, or a URL.

An upload (`file_id`) is streamed from the store for each model tried. A URL is fetched once
into a temporary file (http(s), no redirects, `max_upload_bytes`, a time cap, and it must
sniff as audio), streamed from there for each model, and removed when the job ends however
it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx

from artifacts import ArtifactNotFound, ArtifactStore, ArtifactStoreUnavailable, sniff
from catalog.inputs import TranscribeInput
from workers._download import DownloadError, download
from workers._streams import closing
from workers.errors import JobFailed
from workers.media import store_unavailable

READ_BYTES = 256 * 1024
# What transcription providers infer the format from: the file name's extension.
_EXTENSIONS = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
    "audio/mp4": "m4a",
    "video/mp4": "mp4",
    "audio/webm": "webm",
    "video/webm": "webm",
    "audio/aac": "aac",
}


@dataclass(frozen=True, slots=True)
class AudioSource:
    size: int
    content_type: str
    open: Callable[[], AbstractAsyncContextManager[AsyncIterator[bytes]]]  # the whole audio, afresh

    @property
    def filename(self) -> str:
        return f"audio.{_EXTENSIONS.get(self.content_type, 'bin')}"


@asynccontextmanager
async def audio_of(
    request: TranscribeInput, store: ArtifactStore, http: httpx.AsyncClient, *, max_bytes: int, timeout_s: float
) -> AsyncIterator[AudioSource]:
    if request.file_id is not None:
        yield await _upload(store, request.file_id)
        return
    assert request.audio_url is not None  # TranscribeInput.check: exactly one of the two
    async with _fetched(http, request.audio_url, max_bytes=max_bytes, timeout_s=timeout_s) as source:
        yield source


async def _upload(store: ArtifactStore, file_id: str) -> AudioSource:
    try:
        artifact = await store.describe(file_id, "content")
    except ArtifactNotFound:
        raise _file_not_found(file_id) from None
    except ArtifactStoreUnavailable as exc:
        raise store_unavailable(exc) from None

    @asynccontextmanager
    async def opened() -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            stream = await store.open(file_id, "content")
        except ArtifactNotFound:
            raise _file_not_found(file_id) from None
        except ArtifactStoreUnavailable as exc:
            raise store_unavailable(exc) from None
        async with stream:  # released even if the call never reads it
            yield aiter(stream)

    return AudioSource(artifact.bytes, artifact.content_type, opened)


def _file_not_found(file_id: str) -> JobFailed:
    return JobFailed(
        f"The file {file_id} does not exist any more (uploads expire after 24 hours).",
        type="invalid_request_error",
        code="file_not_found",
        param="input.file_id",
        status=404,
    )


def _fetch_failed(message: str) -> JobFailed:
    return JobFailed(
        f"The audio could not be fetched: {message}",
        type="invalid_request_error",
        code="audio_fetch_failed",
        param="input.audio_url",
        status=400,
    )


@asynccontextmanager
async def _fetched(
    http: httpx.AsyncClient, url: str, *, max_bytes: int, timeout_s: float
) -> AsyncIterator[AudioSource]:
    fd, name = tempfile.mkstemp(prefix="mpc-audio-")
    os.close(fd)
    try:
        size, head = 0, b""
        try:
            async with download(http, url, max_bytes=max_bytes, timeout_s=timeout_s) as fetched:
                with open(name, "wb") as out:  # noqa: ASYNC230 - local temp file, chunk-sized writes
                    async with closing(fetched.chunks) as chunks:
                        async for chunk in chunks:
                            if len(head) < 64:
                                head += chunk[: 64 - len(head)]
                            out.write(chunk)
                            size += len(chunk)
        except DownloadError as exc:
            raise _fetch_failed(exc.message) from None
        types = [t for t in sniff(head) if t.startswith(("audio/", "video/"))]
        if not types:
            raise _fetch_failed("the content is not audio in a format we can read")

        @asynccontextmanager
        async def opened() -> AsyncIterator[AsyncIterator[bytes]]:
            async with closing(_read_file(name)) as chunks:
                yield chunks

        yield AudioSource(size, types[0], opened)
    finally:
        # Shielded against cancellation: the temporary file goes whatever ends the job.
        await asyncio.shield(asyncio.to_thread(_remove, name))


def _remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


async def _read_file(name: str) -> AsyncIterator[bytes]:
    with open(name, "rb") as source:  # noqa: ASYNC230 - reads happen in a thread below
        while chunk := await asyncio.to_thread(source.read, READ_BYTES):
            yield chunk
