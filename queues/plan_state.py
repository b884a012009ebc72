"""A plan job's checkpoint: the state of each of its steps, kept beside the job record.

Every change of a step's state is written together with the step event that announces it,
in one transaction that first checks the plan job is not final, so the checkpoint and the
event stream never disagree and nothing is written after the plan's end. A step that starts
a child job records the child's id *before* the plan waits on it: a worker that replaces a
killed one re-attaches to the child instead of submitting it again, and never re-runs a
step whose output is recorded.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys, store
from queues.classes import QUEUE_CLASS_LIMITS
from queues.events import EventType, add_event_keeping_ttl
from queues.jobs import JobError, JobRecord

StepStatus = Literal["running", "succeeded", "failed", "skipped", "canceled"]
ENDED: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "canceled"})


class StepState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: StepStatus
    task: str
    model: str | None = None
    job_id: str | None = None  # the child job running the step (none for a worker step)
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = None
    error: JobError | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED


_decoder = msgspec.json.Decoder(StepState)


async def load(redis: Redis, job_id: str) -> dict[str, StepState]:
    raw: dict[bytes, bytes] = await redis.hgetall(keys.plan_steps(job_id))  # type: ignore[misc]
    return {step.decode(): _decoder.decode(value) for step, value in raw.items()}


async def save(redis: Redis, job_id: str, step_id: str, state: StepState, event: EventType, data: Any) -> bool:
    """Record the step's state and add its event, while the plan job is not final; False when
    it is (nothing written)."""

    def decide(record: JobRecord) -> store.Writes | None:
        if record.is_final:
            return None

        def writes(pipe: Pipeline) -> None:
            key = keys.plan_steps(job_id)
            pipe.hset(key, step_id, msgspec.json.encode(state).decode())
            pipe.expire(key, QUEUE_CLASS_LIMITS[record.queue].record_ttl_s)
            add_event_keeping_ttl(pipe, job_id, event, data)

        return writes

    return await store.transition(redis, job_id, decide) is not None


async def event(redis: Redis, job_id: str, event_type: EventType, data: Any) -> None:
    """A step event that changes no state (`step_progress`): one XADD, no check."""
    await add_event_keeping_ttl(redis, job_id, event_type, data)
