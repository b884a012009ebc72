"""Per-key limit counts in Redis (`queues.limits`), on the real server and on fakeredis (the
embedded development default, which must run the same scripts)."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from queues import keys, store
from queues.limits import RESERVATION_S, job_writes, lease_size, reserve_job, take_requests, window_of
from queues.retention import DEFAULT_RETENTION
from queues.submit import Submission, submit_job

INPUT = b'{"messages": [{"role": "user", "content": "hi"}]}'


async def test_leases_never_grant_past_the_limit(redis: Redis) -> None:
    now = time.time()
    grants = [await take_requests(redis, "o", 10, 4, now) for _ in range(4)]
    assert grants == [(4, 4), (4, 8), (2, 10), (0, 10)]
    assert lease_size(10) == 1 and lease_size(600_000) == 12_000
    # The next window starts from nothing; the counter expires after two windows.
    assert await take_requests(redis, "o", 10, 4, now + 60) == (4, 4)
    assert 0 < await redis.ttl(keys.rate_window("o", "rpm", window_of(now))) <= 120


async def test_a_job_takes_its_reserved_place_and_its_end_frees_it_and_counts_tokens(redis: Redis) -> None:
    now = time.time()
    first = await reserve_job(redis, "o", "media", tpm=1000, concurrency=1, now=now)
    assert first.over is None and first.running == 1
    assert (await reserve_job(redis, "o", "media", tpm=1000, concurrency=1, now=now)).over == "concurrency"
    submission = Submission(
        task="chat_general",
        queue="media",
        input_json=INPUT,
        params_json=b"{}",
        owner="o",
        also_writes=lambda pipe, record: job_writes(pipe, record.id, "o", "media", first.placeholder, True),
    )
    record, _ = await submit_job(redis, submission)
    assert await redis.zrange(keys.running("o", "media"), 0, -1) == [record.id.encode()]
    usage = {"prompt_tokens": 700, "completion_tokens": 400, "total_tokens": 1100}
    assert await store.finish(redis, record.id, output={"usage": usage}, retention=DEFAULT_RETENTION)
    assert await redis.zcard(keys.running("o", "media")) == 0
    assert await redis.get(keys.rate_window("o", "tpm", window_of(time.time()))) == b"1100"
    over = await reserve_job(redis, "o", "media", tpm=1000, concurrency=1, now=time.time())
    assert over.over == "tpm" and over.tokens_used == 1100


async def test_a_reservation_no_job_took_expires(redis: Redis) -> None:
    then = time.time() - RESERVATION_S - 1
    assert (await reserve_job(redis, "o", "batch", tpm=None, concurrency=1, now=then)).over is None
    assert (await reserve_job(redis, "o", "batch", tpm=None, concurrency=1, now=time.time())).over is None
