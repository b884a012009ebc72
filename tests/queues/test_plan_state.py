"""A plan's checkpoint against its cancel: once the plan's cancel is requested no step records
a start, and `cancel_steps` finds every child still running, recorded or not.

Run against the real Redis server and against fakeredis (the embedded default)."""

from __future__ import annotations

import time

import msgspec
from redis.asyncio import Redis

from queues import plan_state, store
from queues.claim import claim_next
from queues.events import read_events
from queues.plan_state import StepState
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job

OWNER = "o"
PLAN_PARAMS = {"plan": {"id": "plan", "steps": [{"id": s, "task": "chat_general"} for s in "abc"]}}


async def _running_plan(redis: Redis) -> str:
    submission = Submission(
        task="plan", queue="batch", input_json=b'"x"', params_json=msgspec.json.encode(PLAN_PARAMS), owner=OWNER
    )
    record, _ = await submit_job(redis, submission)
    claim = await claim_next(redis, "batch", in_progress_ms=10_000, worker_id="w1", retention=DEFAULT_RETENTION)
    assert claim is not None and claim.job_id == record.id
    return record.id


async def _child(redis: Redis, plan_id: str, step_id: str) -> str:
    """A step's child job, submitted as the plan's worker submits it."""
    submission = Submission(
        task="chat_general",
        queue="interactive",
        input_json=b'{"messages": []}',
        params_json=b"{}",
        owner=OWNER,
        idempotency_key=plan_state.child_idempotency_key(plan_id, step_id),
    )
    record, _ = await submit_job(redis, submission)
    return record.id


def _running(job_id: str) -> StepState:
    return StepState(status="running", task="chat_general", job_id=job_id, started_at=time.time())


async def test_a_plan_asked_to_cancel_records_no_step_start(redis: Redis) -> None:
    plan_id = await _running_plan(redis)
    child = await _child(redis, plan_id, "a")
    before = await read_events(redis, plan_id, "0")
    await store.request_cancel(
        redis, plan_id, retention=DEFAULT_RETENTION
    )  # its worker has not heard it yet: still processing
    record = await store.get_job(redis, plan_id)
    assert record is not None and record.status == "processing"
    assert not await plan_state.save(
        redis, plan_id, "a", _running(child), "step_started", {"step": "a"}, retention=DEFAULT_RETENTION
    )
    assert await plan_state.load(redis, plan_id) == {}
    assert await read_events(redis, plan_id, "0") == before


async def test_canceling_a_plans_steps_cancels_its_running_children_recorded_or_not(redis: Redis) -> None:
    plan_id = await _running_plan(redis)
    recorded, unrecorded, finished = [await _child(redis, plan_id, s) for s in "abc"]
    assert await plan_state.save(
        redis, plan_id, "a", _running(recorded), "step_started", {"step": "a"}, retention=DEFAULT_RETENTION
    )
    assert await store.finish(redis, finished, output={"text": "done"}, retention=DEFAULT_RETENTION)
    done = StepState(status="succeeded", task="chat_general", job_id=finished, output={"text": "done"})
    assert await plan_state.save(
        redis, plan_id, "c", done, "step_succeeded", {"step": "c"}, retention=DEFAULT_RETENTION
    )
    # Step b's child was submitted, but its worker died before recording it.
    await store.request_cancel(redis, plan_id, retention=DEFAULT_RETENTION)
    canceled = await plan_state.cancel_steps(redis, plan_id, OWNER, retention=DEFAULT_RETENTION)
    assert canceled == sorted([recorded, unrecorded])
    for child, status in ((recorded, "canceled"), (unrecorded, "canceled"), (finished, "succeeded")):
        record = await store.get_job(redis, child)
        assert record is not None and record.status == status, (child, record)


async def test_a_job_of_the_plan_class_that_is_no_plan_has_no_steps_to_cancel(redis: Redis) -> None:
    submission = Submission(task="chat_general", queue="batch", input_json=b"{}", params_json=b"{}", owner=OWNER)
    record, _ = await submit_job(redis, submission)
    await store.request_cancel(redis, record.id, retention=DEFAULT_RETENTION)
    assert await plan_state.cancel_steps(redis, record.id, OWNER, retention=DEFAULT_RETENTION) == []
