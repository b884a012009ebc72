"""The arq internals MPC-API relies on, each checked by name.

MPC-API's worker (`workers/runner.py`) is arq's `Worker` with three changes (wake-ups, a job
taken in one script, short in-progress marks), so it uses members arq does not document;
`queues/submit.py` and `queues/claim.py` write and read arq's job format themselves. arq is
pinned exactly (pyproject.toml). Each test here fails naming the member or literal that
changed, so an upgrade of arq breaks loudly here, not silently in production: read arq's
changelog for whatever fails, adapt `workers/runner.py` or `queues/`, then move the pin.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus, deserialize_job_raw
from arq.worker import Worker, func

from queues.claim import RETRY_COUNT_TTL_S, claim_next
from queues.classes import MAX_QUEUED_S, QUEUE_CLASS_LIMITS
from queues.fair import recover_orphans
from queues.redis import connect
from queues.retention import DEFAULT_RETENTION
from queues.submit import JOB_FUNCTION, Submission, submit_job

ARQ_VERSION = "0.28.0"
QUEUE = QUEUE_CLASS_LIMITS["interactive"].queue_name
SUBMISSION = Submission(task="chat_general", queue="interactive", input_json=b"{}", params_json=b"{}", owner="o")


def test_arq_is_the_version_these_contracts_were_read_from() -> None:
    assert version("arq") == ARQ_VERSION, "arq moved: re-read every private member below before changing the pin"


async def _noop(ctx: dict[str, Any], job_id: str) -> None:
    """A job function, so arq's Worker can be built."""


def _worker() -> Worker:
    return Worker(
        functions=[func(_noop, name=JOB_FUNCTION)],
        queue_name=QUEUE,
        redis_settings=RedisSettings(),
        handle_signals=False,
    )


# Instance attributes MPCWorker reads or drives, set by arq's Worker.__init__.
WORKER_ATTRIBUTES = [
    "_pool",  # MPCWorker hands arq its own pool (redis_pool=, made by queues.redis) and reads it here
    "sem",  # a job slot: acquired in _start_waiting, released when its task ends
    "job_counter",
    "tasks",  # job id -> running task, read by arq's shutdown and by our heartbeat
    "loop",
    "allow_pick_jobs",  # False while the worker drains on SIGTERM
    "in_progress_timeout_s",
    "job_deserializer",
    "functions",
    "ctx",
    "max_jobs",
    "queue_name",
    "jobs_complete",
    "jobs_retried",
    "jobs_failed",
]


@pytest.mark.parametrize("name", WORKER_ATTRIBUTES)
async def test_worker_has_the_attribute(name: str) -> None:
    worker = _worker()
    assert hasattr(worker, name), f"arq.worker.Worker no longer sets {name!r}"


async def test_the_semaphore_has_one_slot_more_than_max_jobs() -> None:
    # _start_waiting acquires then checks job_counter, as arq's own start_jobs does: that relies
    # on the extra slot.
    worker = _worker()
    assert isinstance(worker.sem, asyncio.BoundedSemaphore)
    assert worker.sem._value == worker.max_jobs + 1, "arq.worker.Worker.sem is no longer max_jobs + 1"


# Methods MPCWorker overrides or calls, with the parameters it passes.
WORKER_METHODS: list[tuple[str, list[str], bool]] = [
    ("main", ["self"], True),
    ("heart_beat", ["self"], True),  # MPCWorker._poll ends with it, as arq's _poll_iteration does
    ("_release_sem_dec_counter_on_complete", ["self"], False),
    (
        "finish_job",
        [
            "self",
            "job_id",
            "finish",
            "result_data",
            "result_timeout_s",
            "keep_result_forever",
            "incr_score",
            "keep_in_progress",
        ],
        True,
    ),
    ("finish_failed_job", ["self", "job_id", "result_data"], True),
    ("run", ["self"], False),
]


@pytest.mark.parametrize(("name", "parameters", "is_coroutine"), WORKER_METHODS, ids=[m[0] for m in WORKER_METHODS])
def test_worker_method_keeps_its_signature(name: str, parameters: list[str], is_coroutine: bool) -> None:
    method: Callable[..., Any] | None = getattr(Worker, name, None)
    assert method is not None, f"arq.worker.Worker.{name} is gone"
    assert list(inspect.signature(method).parameters) == parameters, f"arq.worker.Worker.{name} changed its parameters"
    assert inspect.iscoroutinefunction(method) is is_coroutine, f"arq.worker.Worker.{name} changed sync/async"


async def test_releasing_a_slot_decrements_the_counter_and_frees_the_semaphore() -> None:
    worker = _worker()
    await worker.sem.acquire()
    worker.job_counter = 1
    worker._release_sem_dec_counter_on_complete()
    assert worker.job_counter == 0, "arq's _release_sem_dec_counter_on_complete no longer decrements job_counter"
    assert worker.sem._value == worker.max_jobs + 1, "arq's _release_sem_dec_counter_on_complete no longer releases"


def test_the_try_count_ttl_is_arqs() -> None:
    source = inspect.getsource(Worker.run_job)
    found = set(re.findall(r"retry_key_prefix \+ job_id, (\d+)", source))
    assert found == {str(RETRY_COUNT_TTL_S)}, f"arq.worker.Worker.run_job keeps the try count for {found}, not us"


async def test_a_submitted_job_is_the_job_arqs_enqueue_job_writes(clean_redis: str) -> None:
    """queues.submit writes arq's job itself (in one transaction with the record): the same
    payload, queue score and expiry as `ArqRedis.enqueue_job`, readable by arq's `Job`."""
    redis = connect(clean_redis)
    arq_redis = ArqRedis.from_url(clean_redis)
    try:
        before_ms = time.time() * 1000
        record, _ = await submit_job(redis, SUBMISSION)
        theirs = await arq_redis.enqueue_job(JOB_FUNCTION, "arq-made", _job_id="arq-made", _queue_name=QUEUE)
        assert theirs is not None
        ours_raw, theirs_raw = await redis.mget(job_key_prefix + record.id, job_key_prefix + "arq-made")
        assert ours_raw is not None and theirs_raw is not None
        ours_job, theirs_job = deserialize_job_raw(ours_raw), deserialize_job_raw(theirs_raw)
        assert (ours_job[0], ours_job[2], ours_job[3]) == (theirs_job[0], theirs_job[2], theirs_job[3])
        assert ours_job[1] == (record.id,) and theirs_job[1] == ("arq-made",)
        ours_score = await redis.zscore(QUEUE, record.id)
        assert ours_score is not None and ours_score == ours_job[4] and ours_score >= before_ms - 1
        assert await redis.zscore(QUEUE, "arq-made") == theirs_job[4]
        ours_ttl = await redis.pttl(job_key_prefix + record.id)
        theirs_ttl = await redis.pttl(job_key_prefix + "arq-made")
        assert abs(ours_ttl - MAX_QUEUED_S * 1000) < 5_000
        assert abs(ours_ttl - theirs_ttl) < 5_000, "arq's enqueue_job keeps a queued job for another time"
        assert await Job(record.id, arq_redis, _queue_name=QUEUE).status() == JobStatus.queued
    finally:
        await redis.aclose()
        await arq_redis.aclose()


async def test_a_claimed_job_is_in_progress_as_arq_sees_it(clean_redis: str) -> None:
    redis = connect(clean_redis)
    arq_redis = ArqRedis.from_url(clean_redis)
    try:
        record, _ = await submit_job(redis, SUBMISSION)
        claim = await claim_next(
            redis, "interactive", in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION
        )
        assert claim is not None and claim.job_id == record.id
        assert await redis.exists(in_progress_key_prefix + record.id, retry_key_prefix + record.id) == 2
        assert await Job(record.id, arq_redis, _queue_name=QUEUE).status() == JobStatus.in_progress
    finally:
        await redis.aclose()
        await arq_redis.aclose()


@pytest.mark.parametrize("finish", [True, False])
async def test_finish_job_leaves_what_the_lease_sweep_reads(clean_redis: str, finish: bool) -> None:
    """`queues.fair.recover_orphans` tells an ended job (drop its lease) from a dead worker's
    (give the job back) by what arq's `finish_job` leaves: the in-progress mark always
    deleted, the queue entry removed only when the job finished."""
    redis = connect(clean_redis)
    arq_redis = ArqRedis.from_url(clean_redis)
    worker = Worker(
        functions=[func(_noop, name=JOB_FUNCTION)], queue_name=QUEUE, redis_pool=arq_redis, handle_signals=False
    )
    try:
        record, _ = await submit_job(redis, SUBMISSION)
        assert (
            await claim_next(redis, "interactive", in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
            is not None
        )
        await worker.finish_job(
            record.id,
            finish=finish,
            result_data=None,
            result_timeout_s=None,
            keep_result_forever=False,
            incr_score=None,
            keep_in_progress=None,
        )
        assert not await redis.exists(in_progress_key_prefix + record.id), "arq's finish_job kept the mark"
        assert (await redis.zscore(QUEUE, record.id) is None) is finish, "arq's finish_job changed its queue writes"
        given_back = await recover_orphans(redis, "interactive", now_ms=int(time.time() * 1000) + 10_001, lease_ms=1)
        assert given_back == (0 if finish else 1)
    finally:
        await redis.aclose()
        await arq_redis.aclose()
