"""Fair share inside a queue class, end to end: two API keys and a real media worker process.
How long the second key waits is the `fair_share` benchmark's to measure; here only the
order of starts is checked, which first in, first out gets wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import msgspec

from queues import keys
from queues.redis import connect
from queues.settings import Settings, hash_api_key
from queues.submit import Submission, submit_job
from tests.support.auth import OTHER_AUTH, TEST_API_KEY
from tests.support.jobs import wait_final
from tests.support.workers import WorkerProcess

FLOOD = 100  # one media worker runs 16 at a time, a second each: six seconds of work
QUIET = 3
VIDEO_INPUT = {"prompt": "a test video"}


async def _flood(redis_url: str) -> list[str]:
    """The flooding key's jobs, submitted at once as its gateway would (`submit_job`), so
    the test does not wait on a hundred HTTP round trips."""
    redis = connect(redis_url)
    submission = Submission(
        task="video_generate",
        queue="media",
        input_json=msgspec.json.encode(VIDEO_INPUT),
        params_json=b'{"sleep": 1.0}',
        owner=hash_api_key(TEST_API_KEY),
    )
    try:
        return [record.id for record, _ in await asyncio.gather(*(submit_job(redis, submission) for _ in range(FLOOD)))]
    finally:
        await redis.aclose()


async def _statuses(redis_url: str, job_ids: list[str]) -> list[bytes]:
    redis = connect(redis_url)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(keys.job(job_id), "status")
            return list(await pipe.execute())
    finally:
        await redis.aclose()


def test_one_key_flooding_the_media_queue_does_not_starve_another(
    api: httpx.Client, settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker("media")
    flood = asyncio.run(_flood(settings.redis_url))
    quick = {"task": "video_generate", "input": VIDEO_INPUT, "params": {"sleep": 0}}
    with httpx.Client(base_url=api.base_url, headers=OTHER_AUTH, timeout=30) as other:
        quiet = [other.post("/api/jobs", json=quick).json()["id"] for _ in range(QUIET)]
        finals = [wait_final(other, job_id) for job_id in quiet]
    assert all(final["status"] == "succeeded" for final in finals)
    # First in, first out would have started every flood job before the quiet key's first.
    still_queued = (asyncio.run(_statuses(settings.redis_url, flood))).count(b"queued")
    assert still_queued >= FLOOD // 2, f"only {still_queued} of the flood's {FLOOD} jobs were still waiting"
