"""The one arq function every MPC-API job runs through: `mpc_job(ctx, job_id)`.

It owns the record's life while the job runs: processing on start, exactly one final state,
cancellation on request, the class timeout, and handing the job back to the queue when the
worker is stopped mid-job (arq then re-runs it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.asyncio import Redis

from queues import store
from queues.classes import QueueClassLimits
from queues.jobs import JobError
from workers.context import Handlers, JobContext
from workers.errors import JobFailed

log = logging.getLogger("mpc.worker")

# Tries before a job that keeps losing its worker (crash, kill, stop) is failed for good.
MAX_ATTEMPTS = 5


@dataclass
class WorkerRuntime:
    """Per-process state shared by the job runs of one worker (lives in arq's ctx)."""

    redis: Redis
    handlers: Handlers
    limits: QueueClassLimits
    worker_id: str
    cancel_events: dict[str, asyncio.Event] = field(default_factory=dict)

    def cancel(self, job_id: str) -> None:
        event = self.cancel_events.get(job_id)
        if event is not None:
            event.set()


async def mpc_job(ctx: dict[str, Any], job_id: str) -> None:
    runtime: WorkerRuntime = ctx["mpc"]
    attempt = int(ctx.get("job_try", 1))
    record = await store.start_attempt(runtime.redis, job_id, attempt=attempt, worker_id=runtime.worker_id)
    if record is None:
        log.info("job %s is gone or already final; not running it", job_id)
        return
    if attempt > MAX_ATTEMPTS:
        message = f"The job lost its worker {MAX_ATTEMPTS} times; giving up."
        await store.finish(runtime.redis, job_id, error=JobError(message=message, code="max_attempts", retryable=True))
        return
    handler = runtime.handlers.get(record.task)
    if handler is None:
        await store.finish(runtime.redis, job_id, error=_no_handler(record.task, runtime.limits.name))
        return
    input_json, params_json = await store.get_payload(runtime.redis, job_id)
    job = JobContext(
        job_id=job_id,
        task=record.task,
        queue=record.queue,
        attempt=attempt,
        input=msgspec.json.decode(input_json),
        params=msgspec.json.decode(params_json),
        redis=runtime.redis,
    )
    cancel = asyncio.Event()
    runtime.cancel_events[job_id] = cancel
    try:
        if await store.cancel_requested(runtime.redis, job_id):
            cancel.set()
        await _run(runtime, job, handler(job), cancel)
    finally:
        runtime.cancel_events.pop(job_id, None)


async def _run(runtime: WorkerRuntime, job: JobContext, work: Any, cancel: asyncio.Event) -> None:
    job_id = job.job_id
    task = asyncio.ensure_future(work)
    canceled = asyncio.ensure_future(cancel.wait())
    try:
        done, _ = await asyncio.wait(
            {task, canceled}, timeout=runtime.limits.job_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        # The worker is stopping: stop the handler, give the job back; arq re-runs it.
        await _stop(task, canceled)
        await asyncio.shield(store.requeue(runtime.redis, job_id, "worker stopped; the job will be run again"))
        raise
    if task in done:
        canceled.cancel()
        await _settle(runtime.redis, job_id, task)
        return
    await _stop(task, canceled)
    if cancel.is_set():
        await store.finish(runtime.redis, job_id, canceled=True)
        log.info("job %s canceled while running", job_id)
    else:
        limit = runtime.limits.job_timeout_s
        error = JobError(message=f"The job ran longer than {limit:g} s.", code="job_timeout", retryable=True)
        await store.finish(runtime.redis, job_id, error=error)


async def _settle(redis: Redis, job_id: str, task: asyncio.Future[Any]) -> None:
    try:
        output = task.result()
    except JobFailed as exc:
        await store.finish(redis, job_id, error=exc.error)
    except Exception as exc:  # a handler bug must still end the job, with no detail leaked
        log.exception("job %s: handler raised %s", job_id, type(exc).__name__)
        error = JobError(
            message=f"The job failed with an internal error ({type(exc).__name__}).", code="internal_error"
        )
        await store.finish(redis, job_id, error=error)
    else:
        await store.finish(redis, job_id, output=output)


async def _stop(*futures: asyncio.Future[Any]) -> None:
    for future in futures:
        future.cancel()
    await asyncio.gather(*futures, return_exceptions=True)


def _no_handler(task: str, queue_class: str) -> JobError:
    return JobError(
        message=f"No worker of queue class '{queue_class}' can run task '{task}' yet.",
        type="invalid_request_error",
        code="task_not_runnable",
    )
