"""A plan job's checkpoint: the state of each of its steps, kept beside the job record.

Every change of a step's state is written together with the step event that announces it,
in one Lua script that first checks the plan job is neither final nor asked to cancel, so
the checkpoint and the event stream never disagree and nothing is written once the plan is
canceled or ended. A step that starts a child job records the child's id *before* the plan
waits on it: a worker that replaces a killed one re-attaches to the child instead of
submitting it again, never re-runs a step whose output is recorded, and passes on the
child's progress from the last event already passed on.

Canceling a plan cancels its running children (`cancel_steps`), whether or not a worker
holds the plan: once the cancel is requested no step can record a start, so the children
found then are all there will be (a step whose start was refused cancels its own child).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from queues import keys, store
from queues.events import MAX_EVENTS, EventType
from queues.jobs import JobError
from queues.lua import LuaScript
from queues.retention import Retention
from queues.submit import idempotency_entry

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
    # The child's last event passed on as `step_progress`: a resumed plan passes on only
    # the events after it.
    relayed: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED


_decoder = msgspec.json.Decoder(StepState)


async def load(redis: Redis, job_id: str) -> dict[str, StepState]:
    raw: dict[bytes, bytes] = await redis.hgetall(keys.plan_steps(job_id))  # type: ignore[misc]
    return {step.decode(): _decoder.decode(value) for step, value in raw.items()}


# KEYS: the plan job's record, its checkpoint, its events, its cancel flag. ARGV: step id,
# state JSON, the checkpoint's TTL, the events cap, event type, event data. 1 when written,
# 0 when the plan job is final, gone or asked to cancel (the flag is set in the same script
# as a cancel request, `queues.store`). One round trip: every step event pays it.
_SAVE = LuaScript("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'canceled' then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
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
    """Record the step's state and add its event, while the plan job is neither final nor
    asked to cancel; False when it is (nothing written)."""
    args = [
        step_id,
        msgspec.json.encode(state).decode(),
        str(retention.record_s(PLAN_QUEUE)),
        str(MAX_EVENTS),
        event,
        msgspec.json.encode(data).decode(),
    ]
    plan_keys = [keys.job(job_id), keys.plan_steps(job_id), keys.job_events(job_id), keys.job_cancel(job_id)]
    return bool(await _SAVE(redis, plan_keys, args))


def child_idempotency_key(plan_id: str, step_id: str) -> str:
    """The Idempotency-Key a plan's step submits its child job under: the same child for
    every attempt of the plan."""
    return f"plan:{plan_id}:{step_id}"


class _StepId(msgspec.Struct):
    id: str


class _PlanSteps(msgspec.Struct):
    steps: list[_StepId]


class _PlanParams(msgspec.Struct):
    plan: _PlanSteps | None = None  # a job of the plan class that is no plan has none


_params_decoder = msgspec.json.Decoder(_PlanParams)


async def cancel_steps(redis: Redis, plan_id: str, owner: str, *, retention: Retention) -> list[str]:
    """Cancel the plan's running child jobs; their ids. Called once the plan's cancel is
    requested, by the request itself and by the plan's worker: a child recorded as running,
    and a child submitted but not yet recorded (its worker stopped between the two) found
    by its idempotency entry."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.plan_steps(plan_id))
        pipe.hget(keys.job(plan_id), "params")
        raw_states, raw_params = await pipe.execute()
    states = {step.decode(): _decoder.decode(value) for step, value in raw_states.items()}
    children = {s.job_id for s in states.values() if s.job_id is not None and not s.ended}
    params = _params_decoder.decode(raw_params) if raw_params else _PlanParams()
    unrecorded = [step.id for step in (params.plan.steps if params.plan else []) if step.id not in states]
    if unrecorded:
        entries = [idempotency_entry(owner, child_idempotency_key(plan_id, step)) for step in unrecorded]
        found: list[bytes | None] = await redis.mget(entries)
        children.update(entry.decode().partition(" ")[0] for entry in found if entry is not None)
    await asyncio.gather(*(store.request_cancel(redis, child, retention=retention) for child in children))
    return sorted(children)
