"""Per-job event streams in Redis Streams: capped, expiring with the job, resumable by id.

Event types: `status`, `progress`, `output`, `log`, `error`, `done`, and a plan job's
`step_started`, `step_progress`, `step_succeeded`, `step_failed`. A job's stream ends
with exactly one terminal event: `done` (succeeded or canceled) or `error` (failed).

Whoever waits on a job (a chat relay, `Prefer: wait`, an SSE client) follows its stream
with `follow_events`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys

EventType = Literal[
    "status",
    "progress",
    "output",
    "log",
    "error",
    "done",
    # A plan job's steps (`workers.plan_handler`), each with the step id and its model.
    "step_started",
    "step_progress",
    "step_succeeded",
    "step_failed",
]
TERMINAL_EVENTS: frozenset[str] = frozenset({"done", "error"})
MAX_EVENTS = 10_000  # approximate cap per job (XADD MAXLEN ~)
STREAM_START = "0-0"  # the id before a stream's first event


class JobEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # the Redis stream id: stable, ordered, usable as SSE `id`
    type: EventType
    data: Any

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


def add_event_setting_ttl(
    target: Redis | Pipeline, job_id: str, event_type: EventType, data: Any, *, ttl_s: int
) -> None:
    """Queue an XADD and the stream's EXPIRE on a pipeline (or client; then await the result).
    For the writes that create the stream or change how long the job is kept."""
    stream = keys.job_events(job_id)
    target.xadd(stream, {"type": event_type, "data": msgspec.json.encode(data)}, maxlen=MAX_EVENTS, approximate=True)
    target.expire(stream, ttl_s)


def add_event_keeping_ttl(target: Redis | Pipeline, job_id: str, event_type: EventType, data: Any) -> Any:
    """XADD alone, to a stream that already has its TTL (XADD keeps a key's expiry; a stream
    it created would never expire). On a client, await the result; on a pipeline, it is queued."""
    fields = {"type": event_type, "data": msgspec.json.encode(data)}
    return target.xadd(keys.job_events(job_id), fields, maxlen=MAX_EVENTS, approximate=True)  # type: ignore[arg-type]


async def read_events(
    redis: Redis, job_id: str, after: str = STREAM_START, *, block_ms: int | None = None, count: int = 500
) -> list[JobEvent]:
    """Events after stream id `after`; with `block_ms`, wait up to that long for the first one."""
    stream = keys.job_events(job_id)
    reply = await redis.xread({stream: after}, count=count, block=block_ms)
    events: list[JobEvent] = []
    for _, entries in reply or []:
        for entry_id, fields in entries:
            events.append(
                JobEvent(
                    id=entry_id.decode(),
                    type=fields[b"type"].decode(),
                    data=msgspec.json.decode(fields[b"data"]),
                )
            )
    return events


async def follow_events(
    redis: Redis,
    job_id: str,
    after: str = STREAM_START,
    *,
    idle_s: float | None = None,
    deadline_s: float | None = None,
) -> AsyncGenerator[list[JobEvent], None]:
    """The job's events after stream id `after`, batch by batch, up to its terminal event.

    A batch is what one blocking XREAD brought (everything written since the previous
    read), so a relay passes it on in one write. The iteration ends with the batch that
    holds the terminal event, cut after it. One XREAD is pending at a time, on `redis`,
    which must be a client without a socket timeout. At least one of:

    - `idle_s`: when this long passes without an event, an empty batch is yielded (the
      caller sends a keep-alive or gives up); asked for more, following goes on.
    - `deadline_s`: the iteration ends this many seconds after it began, terminal event or
      not; no read blocks past it.
    """
    if idle_s is None and deadline_s is None:
        raise ValueError("follow_events needs idle_s or deadline_s: it never blocks without end")
    idle_ms = None if idle_s is None else max(1, int(idle_s * 1000))
    ends_at = None if deadline_s is None else time.monotonic() + deadline_s
    while True:
        block_ms = idle_ms
        if ends_at is not None:
            left_ms = int((ends_at - time.monotonic()) * 1000)
            if left_ms <= 0:
                return
            if block_ms is None or left_ms < block_ms:
                block_ms = left_ms
        assert block_ms is not None
        events = await read_events(redis, job_id, after, block_ms=block_ms)
        if not events:
            if block_ms == idle_ms:
                yield events  # idle; a shorter read was cut by the deadline, which the next turn ends at
            continue
        for i, event in enumerate(events):
            if event.is_terminal:
                yield events[: i + 1]
                return
        yield events
        after = events[-1].id
