"""Job functions the tests register in real worker processes (MPC_WORKER_HANDLERS).

They run under real catalog task ids with behaviour a test can steer (sleep, fail, emit
progress), so the job machinery is exercised end to end without a provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from artifacts import StoreConfig, open_store
from queues.settings import load_settings
from workers.context import Handler, JobContext
from workers.errors import JobFailed
from workers.media import expires_at


def say(text: str) -> dict[str, Any]:
    """The input of a text task: an OpenAI chat body."""
    return {"messages": [{"role": "user", "content": text}]}


async def echo(job: JobContext) -> Any:
    """Streams the last message's words as output events, then returns the input."""
    for word in str(job.input["messages"][-1]["content"]).split():
        await job.output({"delta": word})
    return {"echo": job.input, "attempt": job.attempt}


SAMPLES = Path(__file__).resolve().parents[1] / "artifacts" / "samples"


async def slow(job: JobContext) -> Any:
    """Sleeps `sleep` seconds (`sleep_first_attempt` on attempt 1), reporting progress; with
    `artifact` (a file of tests/artifacts/samples), stores it as the job's artifact through the
    real store the worker's settings name, and lists it in the output as media tasks do.

    The knobs come in the job's `params` (the gateway checks a video job's `input` as a real
    video input, and passes params on) or, for jobs submitted straight to Redis, its input."""
    knobs = {**job.params, **(job.input if isinstance(job.input, dict) else {})}
    seconds = float(knobs.get("sleep_first_attempt" if job.attempt == 1 else "sleep", knobs.get("sleep", 0)))
    steps = max(1, int(seconds / 0.1))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        await job.progress((step + 1) / steps)
    output: dict[str, Any] = {"slept": seconds, "attempt": job.attempt}
    if knobs.get("artifact"):
        output["artifacts"] = [await _store_sample(job, str(knobs["artifact"]))]
    return output


async def _store_sample(job: JobContext, sample: str) -> Any:
    settings = load_settings()
    store = await open_store(
        StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
    )
    content = (SAMPLES / sample).read_bytes()

    async def chunks() -> Any:
        for start in range(0, len(content), 100):  # several chunks, as a provider's body comes
            yield content[start : start + 100]

    try:
        # Kept as long as a media handler's artifact: the job's result, and a margin.
        artifact = await store.write(job.job_id, sample, chunks(), expires_at=expires_at(job))
    finally:
        await store.aclose()
    return msgspec.to_builtins(artifact)


async def refuse(job: JobContext) -> Any:
    raise JobFailed("The input cannot be summarized.", type="invalid_request_error", code="bad_input")


async def crash(job: JobContext) -> Any:
    raise RuntimeError("internal detail sk-should-not-leak")


HANDLERS: Mapping[str, Handler] = {
    "chat_general": echo,
    "video_generate": slow,
    "summarize": refuse,
    "translate": crash,
}
