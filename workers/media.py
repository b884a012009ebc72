"""What the media handlers share: LiteLLM, the artifact store, the chain walker, timeouts,
and how an artifact is written for a job.

An artifact lives as long as its job's result (plus a margin for the gateway to describe
it once more). A store that cannot be written fails the job with the retryable
`artifact_store_unavailable` (503); the store's atomic writes leave nothing half-written.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import msgspec

from artifacts import Artifact, ArtifactError, ArtifactStore, ArtifactStoreUnavailable, MetadataSource
from queues.settings import Settings
from workers.context import JobContext
from workers.errors import JobFailed
from workers.litellm import LiteLLMClient, UpstreamError

# The gateway re-describes artifacts when it shows a job; kept this much past the result.
ARTIFACT_MARGIN_S = 300


@dataclass(frozen=True, slots=True)
class MediaTimeouts:
    embed_s: float
    image_s: float
    speech_s: float
    transcribe_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaTimeouts:
        return cls(
            embed_s=settings.embed_timeout_s,
            image_s=settings.image_timeout_s,
            speech_s=settings.speech_timeout_s,
            transcribe_s=settings.transcribe_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class MediaDeps:
    litellm: LiteLLMClient
    store: ArtifactStore
    timeouts: MediaTimeouts
    max_upload_bytes: int  # the cap for audio fetched from `audio_url`


def expires_at(job: JobContext) -> float:
    return time.time() + job.retention.result_s(job.queue) + ARTIFACT_MARGIN_S


async def write_artifact(
    store: ArtifactStore,
    job: JobContext,
    name: str,
    chunks: AsyncIterable[bytes],
    *,
    content_type: str,
    metadata: MetadataSource = None,
) -> Artifact:
    try:
        return await store.write(
            job.job_id, name, chunks, expires_at=expires_at(job), content_type=content_type, metadata=metadata
        )
    except ArtifactStoreUnavailable as exc:
        raise store_unavailable(exc) from None
    except ArtifactError as exc:
        # The provider's bytes are not what it said (or what was asked for): another model may do.
        message = f"The model's output could not be stored: {exc.message}"
        raise UpstreamError(message, status=502, code="bad_upstream_response", fallback=True) from None


def store_unavailable(exc: ArtifactStoreUnavailable) -> JobFailed:
    return JobFailed(exc.message, code=exc.code, retryable=True, status=503)


def encoded(artifact: Artifact) -> dict[str, Any]:
    """The artifact as a job output shows it (msgspec's encoding of `artifacts.Artifact`)."""
    value: dict[str, Any] = msgspec.to_builtins(artifact)
    return value
