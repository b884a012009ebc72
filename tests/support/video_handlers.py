"""A stand-in for the video engine in a real worker process (MPC_WORKER_HANDLERS), for the
tests of the Videos API at the gateway: it takes a `video_generate` job's input as the API
writes it, reports progress, stores a real MP4 (tests/artifacts/samples/clip.mp4) through the
real artifact store as `video.mp4`, and returns the output the video engine returns
(`model`, `provider_video_id`, `seconds`, `size`, `artifacts`).

The prompt steers it, as a provider's behaviour would: `[slow]` takes 60 s (time to watch
and cancel it), `[fail]` fails with an upstream error after some progress; any other prompt
takes about half a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from artifacts import ArtifactMetadata, StoreConfig, open_store
from queues.settings import load_settings
from tests.support.handlers import SAMPLES
from workers.context import Handler, JobContext
from workers.errors import JobFailed

SAMPLE = "clip.mp4"  # 16x16, 0.1 s, made by tests/artifacts/samples/make_samples.sh
ARTIFACT = "video.mp4"
SLOW_S = 60.0
QUICK_S = 0.5


async def fake_video(job: JobContext) -> Any:
    prompt = str(job.input.get("prompt") or "")
    seconds = SLOW_S if "[slow]" in prompt else QUICK_S
    steps = max(1, int(seconds / 0.1))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        await job.progress((step + 1) / (steps + 1))
        if "[fail]" in prompt and step + 1 >= steps // 2:
            raise JobFailed(
                "The provider refused the prompt.", type="invalid_request_error", code="upstream_bad_request"
            )
    chain = job.params.get("chain") or [{}]
    return {
        "model": chain[0].get("id"),
        "provider_video_id": f"fake_{job.job_id}",
        "seconds": 0.1,
        "size": "16x16",
        "artifacts": [await _store_clip(job.job_id)],
    }


async def _store_clip(job_id: str) -> Any:
    settings = load_settings()
    store = await open_store(
        StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
    )
    content = (SAMPLES / SAMPLE).read_bytes()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 256):
            yield content[start : start + 256]

    try:
        artifact = await store.write(
            job_id,
            ARTIFACT,
            chunks(),
            expires_at=time.time() + 86400,
            content_type="video/mp4",
            metadata=ArtifactMetadata(duration_s=0.1, width=16, height=16),
        )
    finally:
        await store.aclose()
    return msgspec.to_builtins(artifact)


HANDLERS: Mapping[str, Handler] = {"video_generate": fake_video}
