"""A plan job's checkpoint: the state of each of its steps, kept beside the job record.

Every change of a step's state is written together with the step event that announces it,
in one Lua script that first checks the plan job is not final, so the checkpoint and the
event stream never disagree and nothing is written after the plan's end. A step that starts
a child job records the child's id *before* the plan waits on it: a worker that replaces a
killed one re-attaches to the child instead of submitting it again, and never re-runs a
step whose output is recorded.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from queues import keys
from queues.events import MAX_EVENTS, EventType, add_event_keeping_ttl
from queues.jobs import JobError
from queues.lua import LuaScript
from queues.retention import Retention

StepStatus = Literal["running", "succeeded", "failed", "skipped", "canceled"]
PLAN_QUEUE = "batch"  # every plan job's class
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


# KEYS: the plan job's record, its checkpoint, its events. ARGV: step id, state JSON, the
# checkpoint's TTL, the events cap, event type, event data. 1 when written, 0 when the plan
# job is final or gone. One round trip: a plan's every step start and end pays it.
_SAVE = LuaScript("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', ARGV[5], 'data', ARGV[6])
return 1
""")


async def save(
    redis: Redis,
    job_id: str,
    step_id: str,
    state: StepState,
    event: EventType,
    data: Any,
    *,
    retention: Retention,
) -> bool:
    """Record the step's state and add its event, while the plan job is not final; False when
    it is (nothing written)."""
    args = [
        step_id,
        msgspec.json.encode(state).decode(),
        str(retention.record_s(PLAN_QUEUE)),
        str(MAX_EVENTS),
        event,
        msgspec.json.encode(data).decode(),
    ]
    return bool(await _SAVE(redis, [keys.job(job_id), keys.plan_steps(job_id), keys.job_events(job_id)], args))


async def event(redis: Redis, job_id: str, event_type: EventType, data: Any) -> None:
    """A step event that changes no state (`step_progress`): one XADD, no check."""
    await add_event_keeping_ttl(redis, job_id, event_type, data)
