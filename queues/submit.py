"""Submitting a job: record, first event, arq job and wake-up, in one Redis transaction.

Nothing is half-written: either the record, its `queued` event, the arq job (in arq's own
format, so arq's worker semantics apply unchanged), its place in its owner's fair-share list
(`queues/fair.py`) and the idempotency entry all exist, or none does. The PUBLISH inside
the transaction wakes an idle worker at once instead of waiting for its next poll.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import fair, keys
from queues.classes import MAX_QUEUED_S, QUEUE_CLASS_LIMITS
from queues.events import add_event_setting_ttl
from queues.jobs import JobRecord, JobWebhook, encode_json, new_job_id, record_to_hash
from queues.redis import database_of
from queues.replication import confirm_replicated
from queues.store import get_job

# arq's function name for every MPC-API job; the task inside the record picks the handler.
JOB_FUNCTION = "mpc_job"
IDEMPOTENCY_TTL_S = 86400


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@dataclass(frozen=True, slots=True)
class Submission:
    task: str
    queue: str
    input_json: bytes
    params_json: bytes
    owner: str
    idempotency_key: str | None = None
    request_id: str | None = None
    # More writes in the job's own transaction (an owner's list of videos), so whatever lists
    # the job exists exactly when the job does.
    also_writes: Callable[[Pipeline, JobRecord], None] | None = None
    # The params as the client sent them, when the gateway added to them (a chat job's model
    # chain): an idempotent retry must match on what the client sent, not on what the
    # gateway decided, which may change with provider health.
    client_params_json: bytes | None = None
    webhook: JobWebhook | None = None

    def body_digest(self) -> str:
        digest = hashlib.sha256()
        params = self.client_params_json if self.client_params_json is not None else self.params_json
        parts = [self.task.encode(), self.input_json, params]
        if self.webhook is not None:  # only then: digests of requests without one stay as they were
            parts.append(encode_json(self.webhook))
        for part in parts:
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()


def idempotency_entry(owner: str, idempotency_key: str) -> str:
    """The key of the entry that maps an owner's Idempotency-Key to its job: "job id, space,
    body digest"."""
    return keys.idempotency(owner, hashlib.sha256(idempotency_key.encode()).hexdigest())


async def submit_job(redis: Redis, submission: Submission) -> tuple[JobRecord, bool]:
    """Create and enqueue a job. Returns (job, created); created is False when an earlier
    request with the same Idempotency-Key and body already made it."""
    limits = QUEUE_CLASS_LIMITS[submission.queue]
    idem_key = None
    if submission.idempotency_key is not None:
        idem_key = idempotency_entry(submission.owner, submission.idempotency_key)
    body_digest = submission.body_digest()

    async def attempt(pipe: Pipeline) -> tuple[JobRecord, bool]:
        # Under WATCH of the idempotency key: if another request with this key wins the race,
        # redis-py's `transaction` runs this again, and it finds that request's job.
        now = time.time()
        if idem_key is not None:
            existing = await pipe.get(idem_key)
            if existing is not None:
                job_id, _, digest = existing.decode().partition(" ")
                if digest != body_digest:
                    raise IdempotencyConflict(job_id)
                found = await get_job(redis, job_id, now=now)
                if found is not None:
                    return found, False
        record = JobRecord(
            id=new_job_id(),
            task=submission.task,
            queue=submission.queue,
            status="queued",
            created_at=now,
            owner=submission.owner,
            request_id=submission.request_id,
            webhook=submission.webhook,
        )
        pipe.multi()  # type: ignore[no-untyped-call]
        _queue_writes(pipe, record, submission, limits.queue_name, now, database_of(redis))
        if idem_key is not None:
            pipe.set(idem_key, f"{record.id} {body_digest}", ex=IDEMPOTENCY_TTL_S)
            # The final state shortens the key's life to the record's (queues/store.py).
            pipe.hset(keys.job(record.id), "idempotency", idem_key)
        return record, True

    watched = () if idem_key is None else (idem_key,)
    record, created = cast(tuple[JobRecord, bool], await redis.transaction(attempt, *watched, value_from_callable=True))
    # Acknowledged only once the replicas the client requires have it (queues.replication);
    # an idempotent repeat waits too: the first request may have been answered 503.
    await confirm_replicated(redis, record.id)
    return record, created


def _queue_writes(
    pipe: Pipeline, record: JobRecord, submission: Submission, queue_name: str, now: float, db: int
) -> None:

    ttl = MAX_QUEUED_S + int(QUEUE_CLASS_LIMITS[record.queue].job_timeout_s)
    enqueue_ms = int(now * 1000)
    key = keys.job(record.id)
    pipe.hset(key, mapping=record_to_hash(record, input_json=submission.input_json, params_json=submission.params_json))
    pipe.expire(key, ttl)
    add_event_setting_ttl(pipe, record.id, "status", {"status": "queued"}, ttl_s=ttl)
    job_bytes = serialize_job(JOB_FUNCTION, (record.id,), {}, None, enqueue_ms)
    pipe.psetex(job_key_prefix + record.id, MAX_QUEUED_S * 1000, job_bytes)
    pipe.zadd(queue_name, {record.id: enqueue_ms})
    fair.enqueue(pipe, record.queue, record.owner, record.id)  # the order of starts: queues/fair.py
    pipe.publish(keys.wake_channel(db, record.queue), record.id)
    if submission.also_writes is not None:
        submission.also_writes(pipe, record)
