"""`queues.fair`: which job a claim takes between owners, and dead workers' jobs given back.

Run against the real Redis server and fakeredis, like the claim script it is part of. The
end-to-end check, with real workers, is tests/workers/test_fair_share.py.
"""

from __future__ import annotations

import time

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from queues import keys
from queues.claim import claim_next
from queues.fair import NEWCOMER_CREDIT, adopt_queued, give_back, recover_orphans
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job

A, B = "owner-a", "owner-b"
QUEUE = "media"


async def _submit(redis: Redis, owner: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        submission = Submission(task="video_generate", queue=QUEUE, input_json=b"{}", params_json=b"{}", owner=owner)
        record, _ = await submit_job(redis, submission)
        ids.append(record.id)
    return ids


async def _owners_of_next(redis: Redis, n: int) -> list[str]:
    owners = []
    for _ in range(n):
        claim = await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
        assert claim is not None and claim.started is not None
        owners.append(claim.started.record.owner)
    return owners


async def test_one_owner_alone_is_served_oldest_first(redis: Redis) -> None:
    ids = await _submit(redis, A, 5)
    claimed = [
        await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION) for _ in ids
    ]
    assert [c.job_id for c in claimed if c is not None] == ids
    assert await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION) is None
    assert await redis.zcard(keys.fair_ready(QUEUE)) == 0


async def test_a_few_jobs_from_a_quiet_owner_start_ahead_of_a_flood(redis: Redis) -> None:
    await _submit(redis, A, 30)
    assert await _owners_of_next(redis, 5) == [A] * 5
    b_ids = await _submit(redis, B, 3)
    claimed = [
        await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION) for _ in b_ids
    ]
    assert [c.job_id for c in claimed if c is not None] == b_ids  # the FIFO claim started A's 6th
    assert await _owners_of_next(redis, 1) == [A]


async def test_an_owner_past_its_credit_takes_turns(redis: Redis) -> None:
    await _submit(redis, A, 60)
    assert await _owners_of_next(redis, 3) == [A] * 3
    await _submit(redis, B, 40)
    # B starts NEWCOMER_CREDIT jobs behind the clock (the last time served), A one ahead of it.
    assert await _owners_of_next(redis, NEWCOMER_CREDIT + 1) == [B] * (NEWCOMER_CREDIT + 1)
    assert await _owners_of_next(redis, 10) == [A, B] * 5


async def test_an_owner_that_comes_back_soon_gets_only_what_is_left_of_its_credit(redis: Redis) -> None:
    await _submit(redis, A, 60)
    await _owners_of_next(redis, 3)
    await _submit(redis, B, 10)
    assert await _owners_of_next(redis, 10) == [B] * 10
    await _submit(redis, B, 20)
    left = NEWCOMER_CREDIT + 1 - 10
    assert await _owners_of_next(redis, left) == [B] * left
    assert await _owners_of_next(redis, 4) == [A, B, A, B]


async def test_a_dead_workers_job_goes_back_to_the_head_of_its_owners_turn(redis: Redis) -> None:
    await _submit(redis, A, 20)
    assert await _owners_of_next(redis, 1) == [A]
    (b_id,) = await _submit(redis, B, 1)
    assert await _owners_of_next(redis, 1) == [B]  # B's credit: ahead of A's jobs
    # The worker died: its mark and then its lease ran out.
    await redis.delete(in_progress_key_prefix + b_id)
    now_ms = int(time.time() * 1000)
    assert await recover_orphans(redis, QUEUE, now_ms=now_ms + 10_001, lease_ms=10_000) == 1
    again = await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w2", retention=DEFAULT_RETENTION)
    assert again is not None and again.job_id == b_id and again.attempt == 2


async def test_a_lease_whose_job_ended_is_dropped_not_given_back(redis: Redis) -> None:
    (job_id,) = await _submit(redis, A, 1)
    assert await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION) is not None
    # arq's finish_job: mark and queue entry gone, the lease left to run out.
    await redis.delete(in_progress_key_prefix + job_id)
    await redis.zrem(keys.QUEUE_NAMES[QUEUE], job_id)
    assert await recover_orphans(redis, QUEUE, now_ms=int(time.time() * 1000) + 10_001, lease_ms=10_000) == 0
    assert await redis.zcard(keys.fair_leases(QUEUE)) == 0
    assert await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION) is None


async def test_a_job_given_back_by_a_stopping_worker_is_next_with_a_wake_up(redis: Redis) -> None:
    await _submit(redis, A, 3)
    first = await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
    assert first is not None
    await give_back(redis, QUEUE, first.job_id, A, wake_channel=keys.wake_channel(0, QUEUE))
    assert not await redis.exists(in_progress_key_prefix + first.job_id)
    assert await redis.zscore(keys.fair_leases(QUEUE), first.job_id) is None
    again = await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w2", retention=DEFAULT_RETENTION)
    assert again is not None and again.job_id == first.job_id and again.attempt == 2


async def test_jobs_queued_before_fair_share_are_listed_once_in_queue_order(redis: Redis) -> None:
    ids = await _submit(redis, A, 2) + await _submit(redis, B, 1)
    running = await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
    assert running is not None and running.job_id == ids[0]
    # What a version without fair share left: jobs in arq's queue only.
    await redis.delete(keys.fair_ready(QUEUE), keys.fair_waiting(QUEUE, A), keys.fair_waiting(QUEUE, B))
    assert await adopt_queued(redis, QUEUE) == 2  # not the one in progress
    assert await adopt_queued(redis, QUEUE) == -1
    claimed = [
        await claim_next(redis, QUEUE, in_progress_ms=10_000, worker_id="w", retention=DEFAULT_RETENTION)
        for _ in range(3)
    ]
    assert sorted(c.job_id for c in claimed if c is not None) == sorted(ids[1:])
