"""A streamed chat: the job's `output` events relayed to the client as OpenAI SSE chunks.

Plain `data:` lines with no `event:` field (Dify reads nothing else), ending with `data:
[DONE]`. A failure after the first chunk ends with `data: {"error": …}` and no `[DONE]`,
so no client mistakes a cut answer for a complete one. Each batch of events read together
is one write to the client (a head chunk and the first token often arrive together).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio

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

Batches = AsyncGenerator[list[JobEvent], None]
ChunkReshape = Callable[[dict[str, Any]], dict[str, Any]]


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
        frames, finished = _frames(first, reshape)
        if frames:
            yield frames
        if finished:
            return
        async for batch in rest:
            if not batch:
                yield _STALLED
                return
            frames, finished = _frames(batch, reshape)
            if frames:
                yield frames
            if finished:
                return
    finally:
        await rest.aclose()
        if not finished:
            await abandon(state, job_id)  # the client left mid-answer, or the model stalled


async def abandon(state: AppState, job_id: str) -> None:
    """Cancel the job of a client that left: stop the provider call nobody will read.
    Shielded: under Starlette the request's cancel scope would otherwise cancel this too."""
    with anyio.CancelScope(shield=True):
        await store.request_cancel(state.redis, job_id)


def _frames(events: list[JobEvent], reshape: ChunkReshape | None) -> tuple[bytes, bool]:
    """The SSE frames for events read together (one write to the client), and whether the
    stream ended with them."""
    frames = bytearray()
    for event in events:
        if event.type == "output":
            frames += sse_frame(encode_json(reshape(event.data) if reshape else event.data))
        elif event.type == "error":
            error = JobError(**{k: v for k, v in (event.data.get("error") or {}).items() if k in _ERROR_FIELDS})
            envelope = {"message": error.message, "type": error.type, "code": error.code, "param": error.param}
            frames += sse_frame(encode_json({"error": envelope}))
            return bytes(frames), True
        elif event.type == "done":
            frames += _DONE
            return bytes(frames), True
    return bytes(frames), False
