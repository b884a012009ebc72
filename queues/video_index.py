"""Each API key's videos, for OpenAI's `GET /videos`: one sorted set per owner of video job
ids, scored by creation time.

The id goes in within the job's own submit transaction (`listing`, given to
`queues.submit.Submission.also_writes`), so every video job is listed and nothing listed was
never submitted. Membership is also what makes a job a video of the Videos API: deleting a
video takes it out, and from then on its id is a 404 there, even while its canceled job
record lives on. Ids whose job record has expired are taken out by the reader that finds
them; the set itself expires when its owner has made no video for longer than any video
job's record lives, and older members are trimmed at each new video, so neither an idle owner
nor a busy one leaves an unbounded set behind. No read scans: a page is one range read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys
from queues.jobs import JobRecord
from queues.retention import Retention

VIDEO_TASK = "video_generate"


def listing(owner: str, retention: Retention) -> Callable[[Pipeline, JobRecord], None]:
    """The writes that list a new video job under `owner`, for the job's submit transaction.
    Members older than any video job's record (`Retention.video_index_s`) are trimmed."""
    ttl_s = retention.video_index_s()

    def writes(pipe: Pipeline, record: JobRecord) -> None:
        key = keys.owner_videos(owner)
        pipe.zadd(key, {record.id: record.created_at})
        pipe.zremrangebyscore(key, "-inf", f"({record.created_at - ttl_s!r}")
        pipe.expire(key, ttl_s)

    return writes


async def is_listed(redis: Redis, owner: str, job_id: str) -> bool:
    return await redis.zscore(keys.owner_videos(owner), job_id) is not None


async def page(redis: Redis, owner: str, *, after: str | None, count: int, descending: bool) -> list[str] | None:
    """Up to `count` video ids after `after` (exclusive) in creation order (newest first when
    `descending`); None when `after` is not one of the owner's videos."""
    key = keys.owner_videos(owner)
    start = 0
    if after is not None:
        rank = await (redis.zrevrank(key, after) if descending else redis.zrank(key, after))
        if rank is None:
            return None
        start = int(rank) + 1
    found = await redis.zrange(key, start, start + count - 1, desc=descending)
    return [member.decode() for member in found]


async def unlist(redis: Redis, owner: str, job_ids: Iterable[str]) -> None:
    ids = list(job_ids)
    if ids:
        await redis.zrem(keys.owner_videos(owner), *ids)


async def delete_finished(redis: Redis, owner: str, job_id: str) -> None:
    """Unlist a finished video and delete its job record and events (its artifacts are the
    caller's: they live in the artifact store, not in Redis)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.owner_videos(owner), job_id)
        pipe.delete(keys.job(job_id), keys.job_events(job_id), keys.job_cancel(job_id))
        await pipe.execute()


async def listed_job(redis: Redis, owner: str, job_id: str) -> dict[bytes, bytes] | None:
    """The job hash of one of `owner`'s videos (one round trip); None if it is not listed.
    An empty hash: listed, but the record has gone."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zscore(keys.owner_videos(owner), job_id)
        pipe.hgetall(keys.job(job_id))
        score, raw = await pipe.execute()
    return None if score is None else cast(dict[bytes, bytes], raw)


async def job_hashes(redis: Redis, job_ids: list[str]) -> list[dict[bytes, bytes]]:
    """The job hashes of a page of videos, in one round trip."""
    if not job_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hgetall(keys.job(job_id))
        return cast(list[dict[bytes, bytes]], await pipe.execute())
