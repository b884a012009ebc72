"""A streamed chat: the job's `output` events relayed to the client as OpenAI SSE chunks.

Plain `data:` lines with no `event:` field (Dify reads nothing else), ending with `data:
[DONE]`. A failure after the first chunk ends with `data: {"error": …}` and no `[DONE]`,
so no client mistakes a cut answer for a complete one. Two failures of the machinery end it
the same way: Redis lost while following the job (the stream cannot go on), and a second
attempt of the job (its first worker died mid-answer: the retry would send the answer again
from its start after the chunks already sent). Each batch of events read together is one
write to the client (a head chunk and the first token often arrive together).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal

import anyio
from redis.exceptions import RedisError

from api.errors import APIError
from api.sse import sse_frame
from api.state import AppState
from queues import store
from queues.events import JobEvent
from queues.jobs import JobError, encode_json

# The longest a client waits for a job of the interactive class (its job timeout + margin):
# for its answer, and between two of its chunks.
CHAT_WAIT_S = 330.0

_ERROR_FIELDS = frozenset(JobError.__struct_fields__)
_DONE = sse_frame(b"[DONE]")
_STALLED = sse_frame(
    encode_json(
        {"error": {"message": "The model stopped answering.", "type": "server_error", "code": "timeout", "param": None}}
    )
)

_REDIS_LOST = sse_frame(
    encode_json(
        {
            "error": {
                "message": "The answer was cut: Redis became unavailable. Retry shortly.",
                "type": "service_unavailable",
                "code": "service_unavailable",
                "param": None,
            }
        }
    )
)
_RESTARTED = sse_frame(
    encode_json(
        {
            "error": {
                "message": "The answer was cut: the worker answering stopped, and the job started again.",
                "type": "server_error",
                "code": "worker_lost",
                "param": None,
            }
        }
    )
)

Batches = AsyncGenerator[list[JobEvent], None]
ChunkReshape = Callable[[dict[str, Any]], dict[str, Any]]
End = Literal["open", "finished", "cut"]


def no_answer_in_time() -> APIError:
    return APIError("The model did not answer in time.", code="timeout", status=504)


async def first_chunks(batches: Batches) -> list[JobEvent]:
    """Skip to the job's first `output` or terminal event; return it and every event the
    same read brought after it."""
    async for batch in batches:
        if not batch:
            raise no_answer_in_time()
        for i, event in enumerate(batch):
            if event.type == "output" or event.is_terminal:
                return batch[i:]
    raise no_answer_in_time()  # unreachable: following ends only after a terminal event


async def relay(
    state: AppState, job_id: str, first: list[JobEvent], rest: Batches, reshape: ChunkReshape | None = None
) -> AsyncGenerator[bytes, None]:
    """The SSE frames of `first` (from `first_chunks`), then of each batch of `rest`, to
    `[DONE]` or an error chunk, each chunk `reshape`d when given. If the client goes away
    first, the job is canceled."""
    finished = False
    try:
        frames, end = _frames(first, reshape)
        finished = end == "finished"
        if frames:
            yield frames
        if end != "open":
            return
        try:
            async for batch in rest:
                if not batch:
                    yield _STALLED
                    return
                frames, end = _frames(batch, reshape)
                finished = end == "finished"
                if frames:
                    yield frames
                if end != "open":
                    return
        except (RedisError, OSError):
            yield _REDIS_LOST
    finally:
        with contextlib.suppress(RedisError, OSError):
            await rest.aclose()
        if not finished:
            # The client left mid-answer, the model stalled, the job restarted or Redis
            # went away: nobody reads the rest. With Redis down the cancel is lost too.
            with contextlib.suppress(RedisError, OSError):
                await abandon(state, job_id)


async def abandon(state: AppState, job_id: str) -> None:
    """Cancel the job of a client that left: stop the provider call nobody will read.
    Shielded: under Starlette the request's cancel scope would otherwise cancel this too."""
    with anyio.CancelScope(shield=True):
        await store.request_cancel(state.redis, job_id, retention=state.retention)


def _frames(events: list[JobEvent], reshape: ChunkReshape | None) -> tuple[bytes, End]:
    """The SSE frames for events read together (one write to the client), and whether the
    stream ended with them: "finished" (the job's end), "cut" (a new attempt began), or
    "open"."""
    frames = bytearray()
    for event in events:
        if event.type == "output":
            frames += sse_frame(encode_json(reshape(event.data) if reshape else event.data))
        elif event.type == "error":
            error = JobError(**{k: v for k, v in (event.data.get("error") or {}).items() if k in _ERROR_FIELDS})
            envelope = {"message": error.message, "type": error.type, "code": error.code, "param": error.param}
            frames += sse_frame(encode_json({"error": envelope}))
            return bytes(frames), "finished"
        elif event.type == "done":
            frames += _DONE
            return bytes(frames), "finished"
        elif event.type == "status" and event.data.get("status") == "processing":
            # A new attempt after chunks were sent (the first worker died): end here.
            frames += _RESTARTED
            return bytes(frames), "cut"
    return bytes(frames), "open"
