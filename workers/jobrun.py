"""The one arq function every MPC-API job runs through: `mpc_job(ctx, job_id)`.

The worker has already claimed the job and started its attempt (`queues.claim`, one round
trip; its result is in `ctx`). From there `mpc_job` owns the record's life: exactly one
final state, cancellation on request, the class timeout, and handing the job back to the
queue when the worker is stopped mid-job (arq then re-runs it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from redis.asyncio import Redis

from artifacts import ArtifactStore
from metrics.definitions import WorkerMetrics
from metrics.jsonlog import log_context
from queues import store
from queues.claim import Claim, Started
from queues.classes import QueueClassLimits
from queues.jobs import JobError
from queues.redis import UNAVAILABLE
from queues.retention import Retention
from workers.context import Handlers, HandOff, JobContext
from workers.errors import JobFailed
from workers.litellm import LiteLLMClient

log = logging.getLogger("mpc.worker")

# Tries before a job that keeps losing its worker (crash, kill, stop) is failed for good.
MAX_ATTEMPTS = 5
# Where the worker puts a job's `Claim` in arq's ctx.
CLAIM = "mpc_claim"


@dataclass
class WorkerRuntime:
    """Per-process state shared by the job runs of one worker (lives in arq's ctx)."""

    redis: Redis
    handlers: Handlers
    limits: QueueClassLimits
    worker_id: str
    litellm: LiteLLMClient
    metrics: WorkerMetrics
    retention: Retention  # how long finished jobs are kept (MPC_RESULT_TTL_S, MPC_EXPIRED_GRACE_S)
    store: ArtifactStore | None = None  # opened at start-up, closed at shutdown
    downloads: httpx.AsyncClient | None = None  # for URLs that jobs and providers name
    cancel_events: dict[str, asyncio.Event] = field(default_factory=dict)
    # Told of every cancel request this process hears, for jobs no attempt of it is running
    # (a video handed to the poller).
    cancel_listeners: list[Callable[[str], None]] = field(default_factory=list)
    # Cancel requests heard while a claim was on its way: which job a claim takes is known
    # only from its reply (`queues.claim` picks it), and a cancel of that job published
    # after the claim's script ran may be heard before the reply is read.
    claims_in_flight: int = 0
    heard_while_claiming: set[str] = field(default_factory=set)

    def claim_sent(self) -> None:
        self.claims_in_flight += 1

    def claim_answered(self, job_id: str | None) -> bool:
        """Listen for the claimed job's cancel from now on (a cancel that saw `processing`
        is then always heard: by the flag the claim read, by what was heard while the
        claim was on its way, or by its event). False when this worker runs the job already."""
        self.claims_in_flight -= 1
        listening = True
        if job_id is not None:
            listening = job_id not in self.cancel_events
            if listening:
                event = self.cancel_events[job_id] = asyncio.Event()
                if job_id in self.heard_while_claiming:
                    event.set()
        if not self.claims_in_flight:
            self.heard_while_claiming.clear()
        return listening

    def stop_listening(self, job_id: str) -> None:
        self.cancel_events.pop(job_id, None)

    def cancel(self, job_id: str) -> None:
        event = self.cancel_events.get(job_id)
        if event is not None:
            event.set()
        elif self.claims_in_flight:
            self.heard_while_claiming.add(job_id)
        for listener in self.cancel_listeners:
            listener(job_id)


async def mpc_job(ctx: dict[str, Any], job_id: str) -> None:
    runtime: WorkerRuntime = ctx["mpc"]
    claim: Claim = ctx[CLAIM]
    attempt = claim.attempt
    cancel = runtime.cancel_events.setdefault(job_id, asyncio.Event())
    with log_context(job_id=job_id, queue=runtime.limits.name, attempt=attempt):
        started = time.perf_counter()
        begun = claim.started
        if begun is None:
            log.info("job is gone or already final; not running it")
            return
        record = begun.record
        metrics, queue = runtime.metrics, runtime.limits.name
        if attempt == 1:
            metrics.job_wait.labels(queue).observe(max(0.0, time.time() - record.created_at))
        metrics.jobs_in_progress.labels(queue).inc()
        outcome = "requeued"  # unless the attempt ends: a stopping worker cancels it
        try:
            with log_context(task=record.task, request_id=record.request_id):
                outcome = await _attempt(runtime, begun, attempt, cancel)
        finally:
            elapsed = time.perf_counter() - started
            metrics.jobs_in_progress.labels(queue).dec()
            metrics.job_run.labels(queue, record.task).observe(elapsed)
            metrics.jobs_finished.labels(queue, record.task, outcome).inc()
            with log_context(task=record.task, request_id=record.request_id):
                log.info("job %s", outcome, extra={"outcome": outcome, "duration_ms": round(elapsed * 1000, 1)})


async def _attempt(runtime: WorkerRuntime, begun: Started, attempt: int, cancel: asyncio.Event) -> str:
    """Run one attempt; return its outcome for the log (the final status it wrote)."""
    record = begun.record
    job_id = record.id
    if begun.cancel_requested:
        return await _finish(runtime, job_id, canceled=True)
    if attempt > MAX_ATTEMPTS:
        message = f"The job lost its worker {MAX_ATTEMPTS} times; giving up."
        error = JobError(message=message, code="max_attempts", retryable=True)
        return await _finish(runtime, job_id, error=error)
    handler = runtime.handlers.get(record.task)
    if handler is None:
        return await _finish(runtime, job_id, error=_no_handler(record.task, runtime.limits.name))
    job = JobContext(
        job_id=job_id,
        task=record.task,
        queue=record.queue,
        attempt=attempt,
        input=msgspec.json.decode(begun.input_json),
        params=msgspec.json.decode(begun.params_json),
        redis=runtime.redis,
        retention=runtime.retention,
    )
    return await _run(runtime, job, handler(job), cancel)


async def _run(runtime: WorkerRuntime, job: JobContext, work: Any, cancel: asyncio.Event) -> str:
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
        await asyncio.shield(
            store.requeue(
                runtime.redis, job_id, "worker stopped; the job will be run again", retention=runtime.retention
            )
        )
        raise
    if task in done:
        canceled.cancel()
        return await _settle(runtime, job_id, task)
    await _stop(task, canceled)
    if cancel.is_set():
        return await _finish(runtime, job_id, canceled=True)
    limit = runtime.limits.job_timeout_s
    error = JobError(message=f"The job ran longer than {limit:g} s.", code="job_timeout", retryable=True)
    return await _finish(runtime, job_id, error=error)


async def _settle(runtime: WorkerRuntime, job_id: str, task: asyncio.Future[Any]) -> str:
    try:
        output = task.result()
    except JobFailed as exc:
        return await _finish(runtime, job_id, output=exc.output, error=exc.error)
    except UNAVAILABLE:
        # The handler lost Redis (restart, failover): not the job's fault. The worker leaves
        # it in the queue, and it runs again once Redis is back (workers/runner.py).
        raise
    except Exception as exc:  # a handler bug must still end the job, with no detail leaked
        log.exception("handler raised %s", type(exc).__name__)
        message = f"The job failed with an internal error ({type(exc).__name__})."
        return await _finish(runtime, job_id, error=JobError(message=message, code="internal_error"))
    if isinstance(output, HandOff):
        return "handed_off"  # still `processing`: its new owner writes the final state
    return await _finish(runtime, job_id, output=output)


async def _finish(
    runtime: WorkerRuntime,
    job_id: str,
    *,
    output: Any = None,
    error: JobError | None = None,
    canceled: bool = False,
) -> str:
    """Write the final state; 'superseded' when another writer (a cancel) got there first."""
    finished = await store.finish(
        runtime.redis, job_id, output=output, error=error, canceled=canceled, retention=runtime.retention
    )
    if not finished:
        return "superseded"
    return "canceled" if canceled else ("failed" if error is not None else "succeeded")


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
