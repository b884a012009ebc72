"""Submitting a job within its key's limits: tokens per minute and jobs at once per queue class.

A key with neither submits as before. Otherwise its place is reserved first (429 when over),
then taken by the job in the job's own submit transaction (`queues.limits.job_writes`), and
released by the job's final state; a submission that makes no job gives the place back. An
idempotent retry of a job that exists is answered with that job, whatever the limits say.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from redis.asyncio.client import Pipeline

from api.state import AppState
from queues import keys
from queues.jobs import JobRecord
from queues.limits import job_writes, release_reservation
from queues.submit import Submission, submit_job


async def submit_within_limits(state: AppState, submission: Submission) -> tuple[JobRecord, bool]:
    caller = state.keyring.by_owner(submission.owner)
    if caller is None or (caller.limits.tpm is None and not caller.limits.concurrency.get(submission.queue)):
        return await submit_job(state.redis, submission)
    if await _is_retry(state, submission):  # its job was admitted already: answer with it
        return await submit_job(state.redis, submission)
    admission = await state.limiter.admit_job(caller, submission.queue, time.time())
    holds_place = admission is not None and submission.queue in caller.limits.concurrency
    placeholder = admission.placeholder if admission is not None and holds_place else None
    count_tokens = caller.limits.tpm is not None
    earlier = submission.also_writes

    def also_writes(pipe: Pipeline, record: JobRecord) -> None:
        if earlier is not None:
            earlier(pipe, record)
        job_writes(pipe, record.id, submission.owner, submission.queue, placeholder, count_tokens)

    try:
        record, created = await submit_job(state.redis, dataclasses.replace(submission, also_writes=also_writes))
    except BaseException:
        if placeholder is not None:
            await release_reservation(state.redis, submission.owner, submission.queue, placeholder)
        raise
    if not created and placeholder is not None:  # an idempotent retry: the earlier job holds its place
        await release_reservation(state.redis, submission.owner, submission.queue, placeholder)
    return record, created


async def _is_retry(state: AppState, submission: Submission) -> bool:
    """Whether the submission's Idempotency-Key made a job already (`queues.submit` keeps
    the key's SHA-256 under the owner)."""
    if submission.idempotency_key is None:
        return False
    digest = hashlib.sha256(submission.idempotency_key.encode()).hexdigest()
    return bool(await state.redis.exists(keys.idempotency(submission.owner, digest)))
