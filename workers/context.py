"""What a job handler sees of its job: input, attempt, and ways to report while it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from queues import store
from queues.retention import Retention


@dataclass(frozen=True, slots=True)
class JobContext:
    job_id: str
    task: str
    queue: str
    attempt: int
    input: Any
    params: Mapping[str, Any]
    redis: Redis
    retention: Retention  # how long the job's output, events and artifacts are kept

    async def progress(self, fraction: float, message: str | None = None) -> None:
        fraction = min(1.0, max(0.0, fraction))
        data: dict[str, Any] = {"progress": fraction}
        if message:
            data["message"] = message
        await store.record_event(self.redis, self.job_id, "progress", data, progress=fraction, retention=self.retention)

    async def output(self, chunk: Any) -> None:
        """A piece of output as it is produced (a streamed token, a finished step)."""
        await store.append_outputs(self.redis, self.job_id, [chunk])

    async def log(self, message: str) -> None:
        await store.record_event(self.redis, self.job_id, "log", {"message": message}, retention=self.retention)


class HandOff:
    """What a handler returns when its job goes on outside the worker slot (a video waiting
    on its provider, polled by `workers.video_poller`): the record stays `processing`, arq's
    job ends, the slot is free. Whoever took the job over writes its final state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HANDED_OFF"


HANDED_OFF = HandOff()

Handler = Callable[[JobContext], Awaitable[Any]]
Handlers = Mapping[str, Handler]
