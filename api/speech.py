"""`POST /api/audio/speech`: OpenAI's speech body in, the audio's bytes out as they are made.

The job is submitted with `stream_audio: true`, so a worker synthesising one piece appends
`speech.audio.delta` output events (base64 chunks) as the provider streams; the gateway sends
their bytes on at once, after headers that went out with the first of them. Speech made in
several pieces (text longer than the model takes) has no deltas: the finished artifact is
streamed from the store instead. A failure before any byte is a real HTTP error in the
OpenAI envelope; after the first byte, the connection is cut without the body's end, so no
client takes a truncated file for a whole one. A client that leaves cancels the job.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from api.artifact_serving import artifact_response
from api.body import read_body
from api.chat_stream import abandon
from api.errors import APIError, InvalidRequest
from api.fastlane import ClientGone, unless_client_leaves
from api.job_outcome import ended_job
from api.media_chain import select_for_media
from api.media_jobs import (
    MediaJob,
    accepted,
    gone,
    json_body,
    respond_async,
    steering,
    submit_media_job,
    task_input,
    wait_limit_s,
)
from api.state import AppState
from queues.events import JobEvent, follow_events

SPEECH_FIELDS = {
    "input": "text",
    "voice": "voice",
    "response_format": "format",
    "speed": "speed",
    "instructions": "instructions",
}
AUDIO_DELTA = "speech.audio.delta"
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",  # Opus in an Ogg container, as OpenAI sends it
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",  # raw 16-bit little-endian samples, no header
}

log = logging.getLogger("mpc.api")
Batches = AsyncGenerator[list[JobEvent], None]


class _Cut(Exception):
    """The job failed or stalled after audio bytes were sent: the body must not end cleanly."""


class AudioStream(StreamingResponse):
    """A streamed body that, when told the audio is cut, leaves without its final empty
    chunk: the server then closes the connection and the client sees an incomplete body."""

    body_iterator: AsyncGenerator[bytes, None]

    async def stream_response(self, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except _Cut:
            return
        finally:
            # Run the relay's clean-up (the job's cancel when the client left) now, not when
            # the generator is collected: a disconnect cancels this while the relay waits at a yield.
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def speech(state: AppState, request: Request, owner: str) -> Response:
    body = json_body(await read_body(request, state.settings.max_body_bytes))
    if body.get("stream_format") not in (None, "audio"):
        raise InvalidRequest("Only 'stream_format': 'audio' is served.", code="invalid_value", param="stream_format")
    job_input = task_input("tts", body, SPEECH_FIELDS)
    selection = select_for_media(state, "tts", job_input, steering("tts", body))
    job = await submit_media_job(
        state, request, owner, "tts", job_input, selection, SPEECH_FIELDS, {"stream_audio": True}
    )
    if respond_async(request):
        return await accepted(state, request, job)
    content_type = CONTENT_TYPES[job_input.format]
    batches = follow_events(state.blocking_redis, job.record.id, idle_s=wait_limit_s(job.record))
    try:
        first = await unless_client_leaves(_first_audio(batches), request.receive)
    except ClientGone:
        await batches.aclose()
        await abandon(state, job.record.id)
        return gone()
    except BaseException:
        await batches.aclose()
        await abandon(state, job.record.id)
        raise
    if first[0].type == "output":
        headers = job.headers(_model_of(first[0].data))
        frames = _relay(state, job.record.id, first, batches)
        return AudioStream(frames, media_type=content_type, headers=headers)
    await batches.aclose()
    return await _finished_audio(state, request, job, content_type)


async def _first_audio(batches: Batches) -> list[JobEvent]:
    """The job's events from its first audio delta (or its terminal event) on."""
    async for batch in batches:
        if not batch:
            raise APIError("The speech did not start in time.", code="timeout", status=504)
        for i, event in enumerate(batch):
            if _is_delta(event) or event.is_terminal:
                return batch[i:]
    raise APIError("The job's events ended without an end.", code="timeout", status=504)  # not reached


async def _finished_audio(state: AppState, request: Request, job: MediaJob, content_type: str) -> Response:
    """A job that ended without deltas: its error, or its artifact streamed from the store."""
    final = await ended_job(state, job.record.id)
    if final.status != "succeeded":
        raise job.failure(final)
    output: Any = final.output
    listed = output.get("artifacts") if isinstance(output, dict) else None
    if not listed or not isinstance(listed[0], dict) or not isinstance(listed[0].get("name"), str):
        raise APIError("The speech job finished without audio.", code="empty_output", status=502)
    response = await artifact_response(state.store, job.record.id, listed[0]["name"], {})
    response.headers.update({**job.headers(_model_of(output)), "content-type": content_type})
    return response


async def _relay(state: AppState, job_id: str, first: list[JobEvent], rest: Batches) -> AsyncGenerator[bytes, None]:
    """The audio bytes of `first`, then of each batch of `rest`, to the job's end."""
    finished = False
    try:
        audio, ended = _audio(first)
        if audio:
            yield audio
        while not ended:
            try:
                batch = await anext(rest, None)
            except (RedisError, OSError):
                log.warning("lost Redis while relaying speech job %s; cutting the response", job_id)
                raise _Cut from None
            if not batch:  # idle past the limit (None: unreachable, following stops at the end)
                log.warning("speech job %s stalled after its first audio; cutting the response", job_id)
                raise _Cut
            audio, ended = _audio(batch)
            if audio:
                yield audio
        finished = True
    finally:
        with contextlib.suppress(RedisError, OSError):
            await rest.aclose()
        if not finished:
            with contextlib.suppress(RedisError, OSError):  # with Redis down the cancel is lost too
                await abandon(state, job_id)


def _audio(events: list[JobEvent]) -> tuple[bytes, bool]:
    """The audio bytes in events read together, and whether the job ended with them (`_Cut`
    if it ended other than succeeding)."""
    audio = bytearray()
    for event in events:
        if _is_delta(event):
            try:
                audio += base64.b64decode(event.data["audio"], validate=True)
            except (binascii.Error, KeyError, TypeError):
                log.warning("a speech delta of job is not base64 audio; cutting the response")
                raise _Cut from None
        elif event.type == "error" or (event.type == "done" and event.data.get("status") != "succeeded"):
            log.warning("speech job ended with %s after its first audio; cutting the response", event.type)
            raise _Cut
        elif event.type == "done":
            return bytes(audio), True
        elif event.type == "status" and event.data.get("status") == "processing":
            # A new attempt (the first worker died mid-speech) would send the audio again from
            # its start after the bytes already sent.
            log.warning("speech job started again after its first audio; cutting the response")
            raise _Cut
    return bytes(audio), False


def _is_delta(event: JobEvent) -> bool:
    return event.type == "output" and isinstance(event.data, dict) and event.data.get("type") == AUDIO_DELTA


def _model_of(data: Any) -> str | None:
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else None
