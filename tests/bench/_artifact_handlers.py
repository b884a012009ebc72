"""A job handler for the artifact_download benchmark, loaded by a real media worker via
MPC_WORKER_HANDLERS: it writes one artifact of the size its input names through the
worker's own artifact store (the store the settings configure, as the media handlers use).

No provider makes 200 MB of audio in a benchmark's time, so the bytes are made here: a WAV
header (the store checks the content type from the first bytes) and then one fixed 1 MiB
block of pseudo-random bytes repeated, sent in `CHUNK`-byte pieces like a provider's body.
The job is a `tts` job (`input.text` = the size in bytes), so it goes through the gateway's
checks and the media queue as speech does.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from artifacts import ArtifactStore, StoreConfig, open_store
from queues.settings import load_settings
from workers.context import Handler, JobContext

ARTIFACT_NAME = "speech.wav"
CHUNK = 256 * 1024
_BLOCK = random.Random(14).randbytes(1024 * 1024)
_store: ArtifactStore | None = None


def wav_header(data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header (16-bit mono, 24 kHz) for `data_bytes` of samples."""
    rate, channels, width = 24_000, 1, 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width, 8 * width)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


async def wav_bytes(total: int) -> AsyncIterator[bytes]:
    """`total` bytes of WAV (header included), in `CHUNK`-byte pieces."""
    header = wav_header(total - 44)
    sent = 0
    while sent < total:
        offset = (sent - len(header)) % len(_BLOCK) if sent >= len(header) else 0
        piece = header + _BLOCK[: CHUNK - len(header)] if sent == 0 else _BLOCK[offset : offset + CHUNK]
        piece = piece[: total - sent]
        sent += len(piece)
        yield piece


async def _opened_store() -> ArtifactStore:
    global _store
    if _store is None:
        settings = load_settings()
        _store = await open_store(
            StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
        )
    return _store


async def write_artifact(job: JobContext) -> Any:
    total = int(job.input["text"])
    store = await _opened_store()
    expires_at = time.time() + job.retention.result_s(job.queue)
    artifact = await store.write(job.job_id, ARTIFACT_NAME, wav_bytes(total), expires_at=expires_at)
    return {"artifacts": [msgspec.to_builtins(artifact)]}


HANDLERS: Mapping[str, Handler] = {"tts": write_artifact}
