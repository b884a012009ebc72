"""Job functions the tests register in real worker processes (MPC_WORKER_HANDLERS).

They run under real catalog task ids with behaviour a test can steer (sleep, fail, emit
progress), so the job machinery is exercised end to end without a provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from workers.context import Handler, JobContext
from workers.errors import JobFailed


def say(text: str) -> dict[str, Any]:
    """The input of a text task: an OpenAI chat body."""
    return {"messages": [{"role": "user", "content": text}]}


async def echo(job: JobContext) -> Any:
    """Streams the last message's words as output events, then returns the input."""
    for word in str(job.input["messages"][-1]["content"]).split():
        await job.output({"delta": word})
    return {"echo": job.input, "attempt": job.attempt}


async def slow(job: JobContext) -> Any:
    """Sleeps `sleep` seconds (`sleep_first_attempt` on attempt 1), reporting progress."""
    seconds = float(job.input.get("sleep_first_attempt" if job.attempt == 1 else "sleep", job.input.get("sleep", 0)))
    steps = max(1, int(seconds / 0.1))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        await job.progress((step + 1) / steps)
    return {"slept": seconds, "attempt": job.attempt}


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
