"""Per-job event streams in Redis Streams: capped, expiring with the job, resumable by id.

Event types: `status`, `progress`, `output`, `log`, `error`, `done`. A job's stream ends
with exactly one terminal event: `done` (succeeded or canceled) or `error` (failed).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys

EventType = Literal["status", "progress", "output", "log", "error", "done"]
TERMINAL_EVENTS: frozenset[str] = frozenset({"done", "error"})
MAX_EVENTS = 10_000  # approximate cap per job (XADD MAXLEN ~)


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
    redis: Redis, job_id: str, after: str = "0-0", *, block_ms: int | None = None, count: int = 500
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
