"""A plan job: its steps run as child jobs (or worker steps), in parallel as soon as ready.

The plan job lives on the `batch` class; each model step is a child job on its task's own
class (a chat step on `interactive`, a video on `media`), submitted with the brain's choice
of that moment (breakers opened since the plan was checked are respected) and followed on
its event stream, its progress passed on as `step_progress`.

Reliability (docs/orchestration.md):
- Checkpoint: each step's state is written with its event (`queues.plan_state`): the child's
  id before the plan waits on it, the output when it ends. A plan attempt after a crash
  loads the checkpoint, re-attaches to running children and runs only what never started.
  A child is also submitted under an idempotency key of plan and step, so a crash between
  the submit and the checkpoint still finds the same child.
- Failure: a required step that fails (after its own fallbacks) fails the plan, naming the
  step; running siblings are canceled, steps not started are not started, and the output
  keeps what finished. An `optional` step may fail: the steps needing it are skipped.
- Cancel: canceling the plan cancels its running children (their workers hear it at once)
  and starts nothing new. A worker that is only stopping (SIGTERM) leaves them running: the
  next attempt re-attaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from redis.asyncio import Redis

from artifacts import ArtifactError, ArtifactStore
from brain import BreakerState, HealthSnapshot, Index, NoCandidate, SelectionRequest, index_for, step_selection
from catalog import Catalog
from catalog.inputs import TaskInputError, VideoInput, check_video_limits, parse_task_input
from catalog.plan_io import COMBINE_STEP, RANK_STEP, Kind, bound_value, output_kind, parse_source, value_kind
from catalog.plans import steps_in_order
from catalog.schema import Model, Plan, PlanStep
from queues import keys, plan_state, store
from queues.breakers import read_states
from queues.events import STREAM_START, read_events
from queues.jobs import JobError, JobRecord, encode_json
from queues.plan_state import StepState
from queues.submit import Submission, submit_job
from workers import plan_ops
from workers.context import JobContext
from workers.errors import JobFailed
from workers.plan_inputs import Bound, child_input, step_value

# How long one read of a child's events blocks before the child's record is looked at.
CHILD_POLL_MS = 1000
# How old the breaker states a step's choice is made with may be (the gateway refreshes its
# snapshot as often).
HEALTH_MAX_AGE_S = 1.0
# The ad-hoc plan's task id: a request's own `steps`.
ADHOC_TASK = "plan"


class _PlanEnded(Exception):
    """A step's record was refused: the plan job was asked to cancel, or ended, while the
    step ran."""


class PlanSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the gateway put in a plan job's params: the checked plan and the brain's constraints."""

    plan: Plan
    select: SelectionRequest


@dataclass(slots=True)
class PlanHandler:
    catalog: Catalog
    redis: Redis
    store: ArtifactStore
    # The breakers as last read, shared by the plans this worker runs: read again when older
    # than HEALTH_MAX_AGE_S (the gateway's own snapshot is as old), not once per step.
    _health: HealthSnapshot | None = None
    _health_read_at: float = 0.0

    async def health(self) -> HealthSnapshot:
        now = time.monotonic()
        if self._health is None or now - self._health_read_at > HEALTH_MAX_AGE_S:
            providers = {m.provider for m in self.catalog.models.values()}
            states = await read_states(self.redis, providers)
            self._health = HealthSnapshot(
                {p: cast(BreakerState, s) for p, (s, _) in states.items()},
                scores={p: score for p, (_, score) in states.items() if score is not None},
            )
            self._health_read_at = now
        return self._health

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        spec = msgspec.convert(job.params, PlanSpec)
        record = await store.get_job(self.redis, job.job_id)
        if record is None:  # gone while starting: nothing to write to
            raise JobFailed("The plan job is gone.", code="job_not_found")
        run = _PlanRun(
            handler=self,
            job=job,
            plan=spec.plan,
            request=spec.select,
            owner=record.owner,
            request_id=record.request_id,
            states=await plan_state.load(self.redis, job.job_id),
        )
        return await run.execute()


@dataclass
class _PlanRun:
    handler: PlanHandler
    job: JobContext
    plan: Plan
    request: SelectionRequest
    owner: str
    request_id: str | None
    states: dict[str, StepState]
    running: dict[asyncio.Task[None], str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    began: float = field(default_factory=time.time)
    ended: bool = False  # a step's record was refused (`_PlanEnded`)

    @property
    def redis(self) -> Redis:
        return self.handler.redis

    @property
    def index(self) -> Index:
        return index_for(self.handler.catalog)

    async def execute(self) -> dict[str, Any]:
        order = steps_in_order(self.plan)
        failed: PlanStep | None = None
        try:
            while True:
                if failed is None:
                    self._start_ready(order)
                if not self.running:
                    break
                done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    if self.ended:
                        break
                    step_id = self.running.pop(finished, None)
                    if step_id is None:
                        continue  # already settled by `_cancel_running` below
                    finished.result()  # a bug in the engine itself fails the plan (the runner logs it)
                    step = next(s for s in order if s.id == step_id)
                    if self.states[step_id].status == "failed" and not step.optional and failed is None:
                        failed = step
                        await self._cancel_running("a step it ran beside failed")
                if self.ended:
                    # Asked to cancel: end so now, rather than race the cancel's message to
                    # this worker (the job's end is written once: whoever is first).
                    await self._stop_steps()
                    await plan_state.cancel_steps(self.redis, self.job.job_id, self.owner, retention=self.job.retention)
                    await store.finish(self.redis, self.job.job_id, canceled=True, retention=self.job.retention)
                    return self._result(order)
        except asyncio.CancelledError:
            await asyncio.shield(self._stopped())
            raise
        result = self._result(order)
        if failed is not None:
            error = self.states[failed.id].error or JobError(message="The step failed.")
            raise JobFailed(
                f"Step {failed.id!r} ({failed.task}) failed: {error.message}",
                type=error.type,
                code="plan_step_failed",
                param=f"steps.{failed.id}",
                retryable=error.retryable,
                status=error.status,
                output=result,
            )
        return result

    def _start_ready(self, order: list[PlanStep]) -> None:
        active = set(self.running.values())
        for step in order:
            state = self.states.get(step.id)
            if step.id in active or step.id in self.skipped or (state is not None and state.ended):
                continue
            needs = [self.states.get(dep) for dep in step.depends_on]
            if any(dep in self.skipped for dep in step.depends_on) or any(
                s is not None and s.status != "succeeded" and s.ended for s in needs
            ):
                self.skipped.add(step.id)  # an optional step it needs failed
                continue
            if all(s is not None and s.status == "succeeded" for s in needs):
                task = asyncio.ensure_future(self._run_step(step))
                self.running[task] = step.id

    async def _run_step(self, step: PlanStep) -> None:
        try:
            try:
                if step.task in (RANK_STEP, COMBINE_STEP):
                    await self._run_worker_step(step)
                else:
                    await self._run_model_step(step)
            except (JobFailed, ArtifactError) as exc:
                error = exc.error if isinstance(exc, JobFailed) else JobError(message=exc.message, code=exc.code)
                await self._ended(step, "failed", error=error)
        except _PlanEnded:
            self.ended = True  # the plan ends (`execute`); this step's end is nobody's business

    async def _run_worker_step(self, step: PlanStep) -> None:
        started = await self._save(
            step.id,
            StepState(status="running", task=step.task, started_at=time.time()),
            "step_started",
            {"step": step.id, "task": step.task, "model": None, "job_id": None},
        )
        values = self._values(step)
        if step.task == RANK_STEP:
            output = plan_ops.rank(values, plan_ops.top_k_of(self.job.input))
        else:
            output = await plan_ops.combine(self.job, self.handler.store, values)
        await self._ended(step, "succeeded", output=output, started=started)

    async def _run_model_step(self, step: PlanStep) -> None:
        state = self.states.get(step.id)
        if state is None or state.job_id is None:
            state = await self._submit(step)
            if state is None:
                return
        child = await self._follow(step, state)
        await self._child_ended(step, state, child)

    async def _submit(self, step: PlanStep) -> StepState | None:
        task = self.handler.catalog.tasks[step.task]
        job_input = await child_input(task, step, list(self._values(step).values()), self.handler.store)
        try:
            chain = await self._chain(step, job_input)
        except NoCandidate as exc:
            error = JobError(message=exc.message, type="invalid_request_error", code="no_candidate", status=422)
            await self._ended(step, "failed", error=error)
            return None
        submission = Submission(
            task=step.task,
            queue=task.queue,
            input_json=encode_json(job_input),
            params_json=encode_json({"chain": [_ref(m) for m in chain], "stream": False}),
            owner=self.owner,
            # The same child for every attempt of this plan: a crash between this submit
            # and the checkpoint below does not start a second one.
            idempotency_key=plan_state.child_idempotency_key(self.job.job_id, step.id),
            request_id=self.request_id,
            client_params_json=b"{}",
        )
        record, _ = await submit_job(self.redis, submission)
        state = StepState(status="running", task=step.task, model=chain[0].id, job_id=record.id, started_at=time.time())
        data = {"step": step.id, "task": step.task, "model": chain[0].id, "job_id": record.id}
        await self._save(step.id, state, "step_started", data)
        return state

    async def _chain(self, step: PlanStep, job_input: Any) -> list[Model]:
        """The brain's choice as the step starts, with the breakers of this moment."""
        selection = step_selection(self.index, step, self.request, await self.handler.health())
        chain = [selection.model, *selection.fallbacks]
        if step.task == "video_generate":
            video: VideoInput = parse_task_input(step.task, job_input)
            chain = [m for m in chain if _makes(video, m)]
            if not chain:
                raise JobFailed("No video model can make this video.", code="no_candidate", status=422)
        return chain

    async def _follow(self, step: PlanStep, state: StepState) -> JobRecord | None:
        """The child's record once it ended; its progress passed on as `step_progress`, each
        event once: the checkpoint keeps the last one passed on, where a resumed plan goes on."""
        child_id = cast(str, state.job_id)
        after = state.relayed or STREAM_START
        while True:
            events = await read_events(self.redis, child_id, after, block_ms=CHILD_POLL_MS)
            for event in events:
                after = event.id
                if event.type == "progress" and isinstance(event.data, dict):
                    data = {"step": step.id, "model": state.model, "job_id": child_id, **event.data}
                    state = msgspec.structs.replace(state, relayed=event.id)
                    await self._save(step.id, state, "step_progress", data)
                if event.is_terminal:
                    return await store.get_job(self.redis, child_id)
            if not events:
                record = await store.get_job(self.redis, child_id)
                if record is None or record.is_final or record.status == "expired":
                    return record

    async def _child_ended(self, step: PlanStep, state: StepState, child: JobRecord | None) -> None:
        if child is None or child.status == "expired":
            error = JobError(message=f"The step's job {state.job_id} is gone.", code="step_lost", retryable=True)
            await self._ended(step, "failed", error=error, started=state)
        elif child.status == "succeeded":
            output = self._normalized(step, child.output)
            model = output.get("model") if isinstance(output, dict) else None
            await self._ended(step, "succeeded", output=output, started=state, model=model or state.model)
        elif child.status == "canceled":
            error = JobError(message="The step's job was canceled.", code="step_canceled")
            await self._ended(step, "failed", error=error, started=state)
        else:
            await self._ended(step, "failed", error=child.error or JobError(message="The step failed."), started=state)

    def _normalized(self, step: PlanStep, output: Any) -> Any:
        """A text step's answer as text (what the next step reads); a media step's output as is."""
        task = self.handler.catalog.tasks[step.task]
        if task.modality != "text" or not isinstance(output, dict):
            return output
        choice = (output.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        normalized: dict[str, Any] = {
            "text": text,
            "model": output.get("model"),
            "finish_reason": choice.get("finish_reason"),
            "usage": output.get("usage"),
        }
        for bound in self._values(step).values():
            if bound.kind == "context":
                normalized["citations"] = plan_ops.citations(text, bound.value)
        return normalized

    def _values(self, step: PlanStep) -> dict[str, Bound]:
        values: dict[str, Bound] = {}
        for step_input in step.inputs:
            origin, path = parse_source(step_input.source)
            if origin == "request":
                value = bound_value(self.job.input, path)
                values[step_input.name] = Bound(step_input.name, value_kind(value), value)
                continue
            source = self.states[origin]
            kind: Kind = output_kind(self.handler.catalog.tasks.get(source.task) or source.task)
            values[step_input.name] = Bound(step_input.name, kind, step_value(kind, source.job_id, source.output))
        return values

    async def _ended(
        self,
        step: PlanStep,
        status: plan_state.StepStatus,
        *,
        output: Any = None,
        error: JobError | None = None,
        started: StepState | None = None,
        model: str | None = None,
    ) -> None:
        begun = started or self.states.get(step.id)
        state = StepState(
            status=status,
            task=step.task,
            model=model or (begun.model if begun else None),
            job_id=begun.job_id if begun else None,
            started_at=begun.started_at if begun else None,
            finished_at=time.time(),
            output=output,
            error=error,
        )
        data: dict[str, Any] = {"step": step.id, "task": step.task, "model": state.model, "job_id": state.job_id}
        if error is not None:
            data["error"] = msgspec.to_builtins(error)
            data["optional"] = step.optional
        await self._save(step.id, state, "step_succeeded" if status == "succeeded" else "step_failed", data)

    async def _save(self, step_id: str, state: StepState, event: Any, data: dict[str, Any]) -> StepState:
        self.states[step_id] = state
        if not await plan_state.save(
            self.redis, self.job.job_id, step_id, state, event, data, retention=self.job.retention
        ):
            # The plan ended meanwhile (canceled): whatever this step started stops too.
            if state.job_id is not None and not state.ended:
                await store.request_cancel(self.redis, state.job_id, retention=self.job.retention)
            raise _PlanEnded
        return state

    async def _cancel_running(self, reason: str) -> None:
        tasks = list(self.running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            step_id = self.running.pop(task)
            if not task.cancelled() and task.exception() is not None:
                continue  # an engine bug: the plan fails with it anyway
            state = self.states.get(step_id)
            if state is not None and state.job_id is not None and not state.ended:
                await store.request_cancel(self.redis, state.job_id, retention=self.job.retention)
                error = JobError(message=f"Canceled: {reason}.", code="step_canceled")
                step = next(s for s in self.plan.steps if s.id == step_id)
                with contextlib.suppress(_PlanEnded):
                    await self._ended(step, "canceled", error=error, started=state)

    async def _stopped(self) -> None:
        """The plan's attempt is ending early: canceled (stop the children) or its worker
        stopping (leave them: the next attempt re-attaches)."""
        await self._stop_steps()
        if await self.redis.exists(keys.job_cancel(self.job.job_id)):
            # From the checkpoint, not from memory: a step stopped between its child's submit
            # and its record still left a child (found by its idempotency entry).
            await plan_state.cancel_steps(self.redis, self.job.job_id, self.owner, retention=self.job.retention)

    async def _stop_steps(self) -> None:
        tasks = list(self.running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _result(self, order: list[PlanStep]) -> dict[str, Any]:
        steps: dict[str, Any] = {}
        final: Any = None
        for step in order:
            state = self.states.get(step.id)
            if state is None:
                steps[step.id] = {"task": step.task, "status": "skipped" if step.id in self.skipped else "not_started"}
                continue
            steps[step.id] = _step_view(state)
            if state.status == "succeeded":
                final = steps[step.id]["output"]
        result: dict[str, Any] = {
            "object": "plan.result",
            "plan": self.plan.id,
            "steps": steps,
            "final": final,
            "duration_ms": round((time.time() - self.began) * 1000, 1),
        }
        if isinstance(final, dict) and final.get("artifact_job_id") == self.job.job_id:
            result["artifacts"] = final["artifacts"]  # the plan's own (a combined video): fresh links on GET
        return result


def _step_view(state: StepState) -> dict[str, Any]:
    view: dict[str, Any] = {"task": state.task, "status": state.status, "model": state.model, "job_id": state.job_id}
    if state.output is not None:
        view["output"] = _shown(state.output)
    if state.error is not None:
        view["error"] = msgspec.to_builtins(state.error)
    if state.started_at is not None and state.finished_at is not None:
        view["started_at"] = state.started_at
        view["finished_at"] = state.finished_at
        view["duration_ms"] = round((state.finished_at - state.started_at) * 1000, 1)
    return view


def _shown(output: Any) -> Any:
    """Vectors are for the next step, not for the reader: an embedding step shows their shape."""
    if isinstance(output, dict) and output.get("object") == "list" and isinstance(output.get("data"), list):
        data = output["data"]
        width = len(data[0]["embedding"]) if data and isinstance(data[0].get("embedding"), list) else None
        return {"model": output.get("model"), "vectors": len(data), "dimensions": width, "usage": output.get("usage")}
    return output


def _ref(model: Model) -> dict[str, str]:
    return {"id": model.id, "provider": model.provider, "provider_id": model.provider_id}


def _makes(video: VideoInput, model: Model) -> bool:
    if model.video is None:
        return False
    try:
        check_video_limits(video, model.video, model.id)
    except TaskInputError:
        return False
    return True


def plan_handlers(handler: PlanHandler, catalog: Catalog) -> Mapping[str, PlanHandler]:
    """The plan handler under every catalog plan's id and the ad-hoc plan's."""
    return {plan_id: handler for plan_id in (*catalog.plans, ADHOC_TASK)}
