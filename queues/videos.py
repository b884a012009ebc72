"""A video job's provider side: `mpc:video:{job_id}`, the hash that makes a video created once.

Providers bill per created video and take minutes, so the provider's id is written here the
moment the create call answers, before anything else, and everything after (the poller, a
worker that resumes the job after a crash, a cancel) reads it from here rather than ever
creating again. `begin_create` marks the attempt first: a worker that dies between the
marker and the id leaves a record with `status` "creating" and no id, and the next attempt
fails the job (`video_create_interrupted`) instead of risking a second bill.

Fields: `status` (creating, queued, in_progress, completed, failed: the provider's word),
`model`, `provider`, `provider_id` (the chain entry that created it), `provider_video_id`
(LiteLLM's create id: the one to poll, as status answers re-encode it without the deployment),
`created_at`, `max_generation_s` (the model's, from the catalog), `deadline_at` (created_at +
max_generation_s), `cancel`
("1": the provider's API can cancel), `seconds`, `size`, `progress` (0..1), `polls`,
`content_tries`, `error` (the provider's failure message, when it gave one).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from queues import keys

# Kept past the job's end so a late poller or a resumed attempt still reads what happened.
RECORD_TTL_S = 7 * 24 * 3600


class VideoRecord(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    model: str
    provider: str
    provider_id: str
    created_at: float
    provider_video_id: str | None = None
    deadline_at: float | None = None
    max_generation_s: float | None = None
    cancel: bool = False
    seconds: int | None = None
    size: str | None = None
    progress: float = 0.0
    polls: int = 0
    content_tries: int = 0
    error: str | None = None

    @property
    def created(self) -> bool:
        """The provider has the video: never create again."""
        return self.provider_video_id is not None


async def get(redis: Redis, job_id: str) -> VideoRecord | None:
    raw: dict[bytes, bytes] = await redis.hgetall(keys.video(job_id))  # type: ignore[misc]
    if not raw:
        return None
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    return VideoRecord(
        status=fields.get("status", "creating"),
        model=fields.get("model", ""),
        provider=fields.get("provider", ""),
        provider_id=fields.get("provider_id", ""),
        created_at=float(fields.get("created_at", "0")),
        provider_video_id=fields.get("provider_video_id") or None,
        deadline_at=float(fields["deadline_at"]) if "deadline_at" in fields else None,
        max_generation_s=float(fields["max_generation_s"]) if "max_generation_s" in fields else None,
        cancel=fields.get("cancel") == "1",
        seconds=int(fields["seconds"]) if fields.get("seconds") else None,
        size=fields.get("size") or None,
        progress=float(fields.get("progress", "0")),
        polls=int(fields.get("polls", "0")),
        content_tries=int(fields.get("content_tries", "0")),
        error=fields.get("error") or None,
    )


async def begin_create(redis: Redis, job_id: str, *, model: str, provider: str, provider_id: str) -> bool:
    """Mark a create about to be sent; False if the job already has a record (an earlier
    attempt got this far: it must not create again)."""
    key = keys.video(job_id)
    fields = {"status": "creating", "model": model, "provider": provider, "provider_id": provider_id}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, "status", "creating")
        pipe.expire(key, RECORD_TTL_S)
        first, _ = await pipe.execute()
    if not first:
        return False
    await redis.hset(key, mapping=fields)  # type: ignore[misc]
    return True


async def forget_create(redis: Redis, job_id: str) -> None:
    """The create was refused (nothing was made): the next model of the chain may try."""
    await redis.delete(keys.video(job_id))


async def created(
    redis: Redis,
    job_id: str,
    *,
    provider_video_id: str,
    max_generation_s: float,
    cancel: bool,
    seconds: int | None,
    size: str | None,
) -> None:
    """The provider's id, written as soon as the create answered."""
    now = time.time()
    fields: dict[str, Any] = {
        "provider_video_id": provider_video_id,
        "status": "queued",
        "created_at": repr(now),
        "deadline_at": repr(now + max_generation_s),
        "max_generation_s": repr(max_generation_s),
        "cancel": "1" if cancel else "0",
    }
    if seconds is not None:
        fields["seconds"] = str(seconds)
    if size is not None:
        fields["size"] = size
    await redis.hset(keys.video(job_id), mapping=fields)  # type: ignore[misc]


async def polled(redis: Redis, job_id: str, *, status: str, progress: float | None, error: str | None = None) -> None:
    """One poll's answer; counts the poll."""
    key = keys.video(job_id)
    fields: dict[str, str] = {"status": status}
    if progress is not None:
        fields["progress"] = repr(progress)
    if error is not None:
        fields["error"] = error[:500]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.hincrby(key, "polls", 1)
        await pipe.execute()


async def count_content_try(redis: Redis, job_id: str) -> int:
    return int(await redis.hincrby(keys.video(job_id), "content_tries", 1))  # type: ignore[misc]


async def delete(redis: Redis, job_id: str) -> None:
    await redis.delete(keys.video(job_id))
