"""tts: speech through LiteLLM's /v1/audio/speech, streamed into one artifact.

Text within the chosen model's limit (`_speech_text`) is one call. When the provider's
audio is already the asked format it goes to the store as it arrives (and, with params
`stream_audio: true`, as `speech.audio.delta` output events too: the first bytes at once,
then joined up to 64 KiB or 20 ms); its duration is read from its frame or container
headers on the way past (`_audio_duration`), by a decoder beside it only where they do
not give it. Otherwise, and for longer text, split at sentences, each piece's
audio is decoded by ffmpeg to raw PCM (24 kHz mono s16le) and all of it is piped into one
encoder of the asked format, whose output streams into the store: one file, never whole
in memory, its duration the PCM's length.

A failure before any delta was sent falls back to the next model, which starts again from
the first piece (one voice for the whole text); the store's atomic write keeps nothing of
the failed attempt. After a delta, the answer is committed to the model, as chat's is.

Output: `{"model", "artifacts": [speech.<ext>], "pieces": k}`; `pcm` is stored as declared
`audio/pcm` (signed 16-bit little-endian, mono, 24 kHz, as OpenAI's pcm).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from artifacts import ArtifactMetadata, sniff
from catalog.inputs import SpeechInput, parse_task_input
from workers import _ffmpeg
from workers._audio_duration import DurationMeter, meter_for
from workers._speech_text import split_text, text_limit
from workers._streams import closing
from workers._voices import provider_voice
from workers.context import JobContext
from workers.errors import JobFailed
from workers.fallback import Attempt, ChainWalker
from workers.litellm import UpstreamError, bad_response
from workers.media import MediaDeps, encoded, write_artifact

OPERATION = "generate_content"  # OTel gen_ai.operation.name
# Audio deltas (stream_audio): a batch is sent at this size, or this long after its first byte.
DELTA_BYTES = 64 * 1024
DELTA_WAIT_S = 0.02

# format -> (artifact extension, content type, ffmpeg encoder arguments from PCM)
FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "mp3": ("mp3", "audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3")),
    "wav": ("wav", "audio/wav", ("-c:a", "pcm_s16le", "-f", "wav")),
    "opus": ("opus", "audio/ogg", ("-c:a", "libopus", "-b:a", "64k", "-f", "ogg")),
    "aac": ("aac", "audio/aac", ("-c:a", "aac", "-b:a", "128k", "-f", "adts")),
    "flac": ("flac", "audio/flac", ("-c:a", "flac", "-f", "flac")),
    "pcm": ("pcm", "audio/pcm", ()),
}


class _Broken(Exception):
    """The provider failed after audio deltas were sent on: no fallback any more."""

    def __init__(self, cause: UpstreamError) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class SpeechHandler:
    deps: MediaDeps
    walker: ChainWalker

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        request: SpeechInput = parse_task_input(job.task, job.input)
        stream_audio = bool(job.params.get("stream_audio", False))

        async def call(attempt: Attempt) -> dict[str, Any]:
            pieces = split_text(request.text, text_limit(attempt.target.provider, attempt.target.id))
            ext, content_type, _ = FORMATS[request.format]
            if len(pieces) == 1 and request.format != "pcm":
                run = _Single(self, job, attempt, request, stream_audio=stream_audio)
                chunks, metadata = run.chunks(), run.metadata
            else:
                meter = _PcmCount()
                chunks, metadata = _joined(self, attempt, request, pieces, meter), meter.metadata
            try:
                artifact = await write_artifact(
                    self.deps.store, job, f"speech.{ext}", chunks, content_type=content_type, metadata=metadata
                )
            except _Broken as exc:
                await attempt.failed(exc.cause)
                raise JobFailed(
                    f"The speech was interrupted: {exc.cause.message}",
                    code="stream_interrupted",
                    retryable=True,
                    status=502,
                ) from None
            return {"model": attempt.target.id, "artifacts": [encoded(artifact)], "pieces": len(pieces)}

        return await self.walker.walk(job, call)

    def body(self, attempt: Attempt, request: SpeechInput, text: str, response_format: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": attempt.target.provider_id,
            "input": text,
            "voice": provider_voice(attempt.target.provider, request.voice),
            "response_format": response_format,
            "num_retries": 0,
        }
        if request.speed != 1.0:
            body["speed"] = request.speed
        if request.instructions:
            body["instructions"] = request.instructions
        return body


class _Single:
    """One call whose audio may already be the asked format (then passed through as is)."""

    def __init__(
        self, handler: SpeechHandler, job: JobContext, attempt: Attempt, request: SpeechInput, *, stream_audio: bool
    ) -> None:
        self.handler, self.job, self.attempt, self.request = handler, job, attempt, request
        self.stream_audio = stream_audio
        self.sent = False  # a delta went out: the answer is committed to this model
        self.duration_s: float | None = None

    def metadata(self) -> ArtifactMetadata:
        return ArtifactMetadata(duration_s=self.duration_s)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async with closing(self._audio()) as audio:
                async for chunk in audio:
                    yield chunk
        except UpstreamError as exc:
            if self.sent:
                raise _Broken(exc) from None
            raise

    async def _audio(self) -> AsyncIterator[bytes]:
        handler, request = self.handler, self.request
        body = handler.body(self.attempt, request, request.text, request.format)
        _, content_type, encoder = FORMATS[request.format]
        async with handler.deps.litellm.speech(body, timeout_s=handler.deps.timeouts.speech_s) as answer:
            head = await _first(answer.chunks)
            if content_type in sniff(head[:64]):
                passed, seconds = _measured(request.format, head, answer.chunks)
                if self.stream_audio:
                    passed = _coalesced(passed)
                async with closing(passed) as audio:
                    async for chunk in audio:
                        yield await self._sent(chunk)
                self.duration_s = seconds()
            else:
                # Not the asked format (a provider that ignores response_format): convert.
                meter = _PcmCount()
                pcm = meter.through(_decoded(_prefixed(head, answer.chunks)))
                async with closing(_ffmpeg_encode(pcm, encoder)) as encoded:
                    async for chunk in encoded:
                        yield await self._sent(chunk)
                self.duration_s = meter.seconds
        await self.attempt.succeeded()

    async def _sent(self, chunk: bytes) -> bytes:
        if self.stream_audio:
            # `model` names who is speaking, for the gateway's X-MPC-Model when a fallback answered.
            event = {
                "type": "speech.audio.delta",
                "audio": base64.b64encode(chunk).decode(),
                "model": self.attempt.target.id,
            }
            await self.job.output(event)
            self.sent = True
        return chunk


async def _joined(
    handler: SpeechHandler, attempt: Attempt, request: SpeechInput, pieces: list[str], meter: _PcmCount
) -> AsyncIterator[bytes]:
    """Every piece's audio as one PCM stream, then encoded to the asked format."""
    _, _, encoder = FORMATS[request.format]
    provider_format = "wav" if request.format == "pcm" else request.format

    async def pcm() -> AsyncIterator[bytes]:
        for text in pieces:
            body = handler.body(attempt, request, text, provider_format)
            async with (
                handler.deps.litellm.speech(body, timeout_s=handler.deps.timeouts.speech_s) as answer,
                closing(_decoded(answer.chunks)) as decoded,
            ):
                async for chunk in decoded:
                    yield chunk
        await attempt.succeeded()

    counted = meter.through(pcm())
    async with closing(counted if request.format == "pcm" else _ffmpeg_encode(counted, encoder)) as audio:
        async for chunk in audio:
            yield chunk


class _PcmCount:
    """Counts raw PCM going through: its duration, exact."""

    def __init__(self) -> None:
        self.bytes = 0

    @property
    def seconds(self) -> float:
        return round(self.bytes / _ffmpeg.PCM_BYTES_PER_SECOND, 3)

    def metadata(self) -> ArtifactMetadata:
        return ArtifactMetadata(duration_s=self.seconds)

    async def through(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async with closing(source) as chunks:
            async for chunk in chunks:
                self.bytes += len(chunk)
                yield chunk


def _measured(
    fmt: str, head: bytes, rest: AsyncIterator[bytes]
) -> tuple[AsyncIterator[bytes], Callable[[], float | None]]:
    """The audio passed through as is, and its duration once all of it has gone past: from its
    headers as it goes, or (where they do not give it: FLAC written to a pipe) from a decoder
    beside it."""
    meter = meter_for(fmt)
    if meter is not None:
        meter.feed(head)
        if meter.measurable:
            return _metered(meter, head, rest), lambda: meter.seconds
    counter = _DurationOfAudio()
    return counter.through(_prefixed(head, rest)), lambda: counter.seconds


async def _metered(meter: DurationMeter, head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`head` (already fed to `meter`), then the rest, fed to it on the way past."""
    yield head
    async with closing(rest) as chunks:
        async for chunk in chunks:
            meter.feed(chunk)
            yield chunk


async def _coalesced(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The first chunk at once, then what arrives within `DELTA_WAIT_S` of a batch's first
    byte joined up to `DELTA_BYTES`: each delta is a Redis write and an SSE event, and a
    stream comes in many network reads (LiteLLM sends a speech as fast as it can write)."""
    loop = asyncio.get_running_loop()
    upcoming: asyncio.Task[bytes | None] | None = None  # a read that outlived its batch's wait
    async with closing(source) as chunks:
        try:
            first = await _pull(chunks)
            if first is None:
                return
            yield first
            while True:
                chunk = await (upcoming or _pull(chunks))
                upcoming = None
                if chunk is None:
                    return
                batch, deadline, ended = bytearray(chunk), loop.time() + DELTA_WAIT_S, False
                while len(batch) < DELTA_BYTES and not ended:
                    upcoming = asyncio.ensure_future(_pull(chunks))
                    done, _ = await asyncio.wait({upcoming}, timeout=max(deadline - loop.time(), 0))
                    if not done:
                        break  # the batch goes now; that read starts the next one
                    chunk, upcoming = upcoming.result(), None
                    if chunk is None:
                        ended = True
                    else:
                        batch += chunk
                yield bytes(batch)
                if ended:
                    return
        finally:
            if upcoming is not None and not upcoming.done():
                upcoming.cancel()
                await asyncio.gather(upcoming, return_exceptions=True)


async def _pull(chunks: AsyncIterator[bytes]) -> bytes | None:
    return await anext(chunks, None)


class _DurationOfAudio:
    """Passes encoded audio through unchanged while a decoder beside it counts its length."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    async def through(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
        count = _PcmCount()

        async def fed() -> AsyncIterator[bytes]:
            while (chunk := await queue.get()) is not None:
                yield chunk

        async def measure() -> None:
            async with closing(count.through(_decoded(fed()))) as decoded:
                async for _ in decoded:
                    pass

        measuring = asyncio.create_task(measure())
        try:
            async with closing(source) as chunks:
                async for chunk in chunks:
                    await queue.put(chunk)
                    yield chunk
            await queue.put(None)
            with contextlib.suppress(UpstreamError):
                await measuring  # an undecodable tail only loses the duration
            self.seconds = count.seconds
        finally:
            if not measuring.done():
                measuring.cancel()
                await asyncio.gather(measuring, return_exceptions=True)


async def _decoded(audio: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    try:
        async with closing(_ffmpeg.filtered(_ffmpeg.decode_to_pcm_args(), audio)) as decoded:
            async for chunk in decoded:
                yield chunk
    except _ffmpeg.MediaToolError as exc:
        raise bad_response(f"The model's audio could not be decoded: {exc.detail}") from None


async def _ffmpeg_encode(pcm: AsyncIterable[bytes], encoder: tuple[str, ...]) -> AsyncIterator[bytes]:
    args = ["-v", "error", *_ffmpeg.PCM_ARGS, "-i", "pipe:0", *encoder, "pipe:1"]
    try:
        async with closing(_ffmpeg.filtered(args, pcm)) as encoded:
            async for chunk in encoded:
                yield chunk
    except _ffmpeg.MediaToolError as exc:
        raise bad_response(f"The audio could not be encoded: {exc.detail}") from None


async def _first(chunks: AsyncIterator[bytes]) -> bytes:
    """At least the first 64 bytes (enough to sniff), or all there is."""
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if len(head) >= 64:
            break
    if not head:
        raise bad_response("The model answered no audio.")
    return bytes(head)


async def _prefixed(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async with closing(rest) as chunks:
        async for chunk in chunks:
            yield chunk
