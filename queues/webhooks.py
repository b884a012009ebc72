"""Webhooks in Redis: each API key's signing secrets, each delivery, its attempts.

A delivery is one event for one job's webhook, sent until the receiver takes it or gives up
on it. Its id is the Standard Webhooks `webhook-id`, the same on every attempt, so a
receiver can drop duplicates. The end of a job is scheduled by the final-state Lua script
(`queues/store.py`) with a copy of the record as it ended; a progress event by the progress
write's own transaction. The deliveries due sit in the `mpc:webhook_deliveries` schedule
(`queues/schedule.py`), which every worker process's delivery loop claims from
(`workers/webhooks.py`). Deliveries and their attempts are kept `DELIVERY_TTL_S`: the 24 h
of retries, and a day to read how they went.

Secrets are per API key (the owner digest): `whsec_` + base64 of 32 random bytes, created on
first use. Rotation keeps the previous one for `ROTATION_OVERLAP_S`, and deliveries are
signed with both meanwhile, so receivers can switch over without a gap. A secret is never
written to a job record, a delivery, a log or an error.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any, Literal, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from queues import keys
from queues.jobs import JobRecord, record_from_hash
from queues.lua import LuaScript

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ROTATION_OVERLAP_S = 86400
RETRY_WINDOW_S = 86400
DELIVERY_TTL_S = RETRY_WINDOW_S + 86400
MAX_ATTEMPTS_KEPT = 100

DeliveryState = Literal["pending", "delivered", "failed"]


class SigningSecrets(msgspec.Struct, frozen=True, kw_only=True):
    current: str
    created_at: float
    previous: str | None = None
    previous_until: float | None = None

    def valid(self, now: float) -> list[str]:
        """The secrets to sign with now: the current one, and the previous one in its overlap."""
        if self.previous is not None and self.previous_until is not None and now < self.previous_until:
            return [self.current, self.previous]
        return [self.current]


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    status: int | None = None  # the receiver's HTTP status, when it answered
    error: str | None = None  # why the attempt failed, when it did (no secret, no query string)
    duration_ms: float
    next_attempt_at: float | None = None


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    job_id: str
    owner: str
    type: str
    url: str
    at: float
    state: DeliveryState
    attempts: int
    body: bytes | None  # frozen at the first attempt, sent as is on every retry
    record: JobRecord | None  # the job as it ended (end events only)


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery as the job's owner sees it (`GET /api/jobs/{id}`)."""

    id: str
    type: str
    state: DeliveryState
    created_at: float
    attempts: list[Attempt]


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def end_delivery_id(job_id: str) -> str:
    """The id of a job's end event: one per job, known before the end is written."""
    return f"msg_{job_id.removeprefix('job_')}_end"


def _progress_delivery_id(job_id: str) -> str:
    return f"msg_{job_id.removeprefix('job_')}_p{secrets.token_hex(6)}"


_SECRET_FIELDS = ("current", "created_at", "previous", "previous_until")

# KEYS[1] the owner's secrets. ARGV: a new secret, now. Creates them unless present; returns them.
_ENSURE = LuaScript(
    """
redis.call('HSETNX', KEYS[1], 'current', ARGV[1])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
return redis.call('HMGET', KEYS[1], 'current', 'created_at', 'previous', 'previous_until')
"""
)

# KEYS[1] the owner's secrets. ARGV: a new secret, now, overlap seconds. The current secret
# (if any) becomes the previous one, valid for the overlap; returns the new state.
_ROTATE = LuaScript(
    """
local current = redis.call('HGET', KEYS[1], 'current')
if current then
  redis.call('HSET', KEYS[1], 'previous', current, 'previous_until', tonumber(ARGV[2]) + tonumber(ARGV[3]))
end
redis.call('HSET', KEYS[1], 'current', ARGV[1], 'created_at', ARGV[2])
return redis.call('HMGET', KEYS[1], 'current', 'created_at', 'previous', 'previous_until')
"""
)


async def signing_secrets(redis: Redis, owner: str) -> SigningSecrets:
    """The key's secrets, creating its first one if it has none."""
    return _secrets(await _ENSURE(redis, [keys.webhook_secret(owner)], [new_secret(), repr(time.time())]))


async def rotate_secret(redis: Redis, owner: str) -> SigningSecrets:
    now = time.time()
    raw = await _ROTATE(redis, [keys.webhook_secret(owner)], [new_secret(), repr(now), str(ROTATION_OVERLAP_S)])
    return _secrets(raw)


def _secrets(raw: list[bytes | None]) -> SigningSecrets:
    current, created_at, previous, previous_until = (None if v is None else v.decode() for v in raw)
    assert current is not None and created_at is not None  # both scripts set them
    return SigningSecrets(
        current=current,
        created_at=float(created_at),
        previous=previous,
        previous_until=None if previous_until is None else float(previous_until),
    )


def schedule_progress(pipe: Pipeline, record: JobRecord, now: float, db: int) -> None:
    """Queue a `job.progress` delivery in the progress write's transaction, and wake the
    delivery loops. Its data is the job as it is at the delivery's first attempt (no copy:
    progress moves on anyway)."""
    assert record.webhook is not None
    delivery_id = _progress_delivery_id(record.id)
    key = keys.webhook_delivery(delivery_id)
    fields = {
        "id": delivery_id,
        "job_id": record.id,
        "owner": record.owner,
        "type": "job.progress",
        "url": record.webhook.url,
        "at": repr(now),
        "state": "pending",
        "attempts": "0",
    }
    pipe.hset(key, mapping=fields)
    pipe.expire(key, DELIVERY_TTL_S)
    pipe.rpush(keys.job_webhooks(record.id), delivery_id)
    pipe.expire(keys.job_webhooks(record.id), DELIVERY_TTL_S)
    pipe.zadd(keys.WEBHOOK_DELIVERIES, {delivery_id: 0})
    pipe.publish(keys.webhook_wake_channel(db), delivery_id)


async def read_delivery(redis: Redis, delivery_id: str) -> Delivery | None:
    raw = await redis.hgetall(keys.webhook_delivery(delivery_id))  # type: ignore[misc]
    if not raw or b"id" not in raw:
        return None
    f = {k.decode(): v for k, v in raw.items()}
    snapshot = {k[2:]: v for k, v in raw.items() if k.startswith(b"r.")}
    at = float(f["at"])
    return Delivery(
        id=f["id"].decode(),
        job_id=f["job_id"].decode(),
        owner=f["owner"].decode(),
        type=f["type"].decode(),
        url=f["url"].decode(),
        at=at,
        state=cast(DeliveryState, f["state"].decode()),
        attempts=int(f["attempts"]),
        body=f.get("body"),
        # Read as of its end, so a record past its result TTL is still what it was.
        record=record_from_hash(snapshot, now=at) if snapshot else None,
    )


async def freeze_body(redis: Redis, delivery_id: str, body: bytes) -> bytes:
    """Keep a body built from the live record before its first attempt, so every retry and a
    racing claimant send the same one (HSETNX: the first writer's wins)."""
    key = keys.webhook_delivery(delivery_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, "body", body.decode())  # JSON: UTF-8 text
        pipe.hget(key, "body")
        _, kept = await pipe.execute()
    return bytes(kept) if kept is not None else body


_attempt_json = msgspec.json.Encoder()
_attempt_decoder = msgspec.json.Decoder(Attempt)


# KEYS[1] the delivery, KEYS[2] its attempts, KEYS[3] the delivery schedule. ARGV: the
# attempt (JSON), the state after it, the body to keep ('' when already kept), the seconds
# to the next attempt ('' when there is none), attempts kept, the attempts' TTL, the delivery
# id. One round trip after each POST; a delivery that expired meanwhile is only unscheduled.
_RECORD_ATTEMPT = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[7])
  return 0
end
if ARGV[3] ~= '' then redis.call('HSETNX', KEYS[1], 'body', ARGV[3]) end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[3], ARGV[7])
else
  local now = redis.call('TIME')
  local at = tonumber(now[1]) + tonumber(now[2]) / 1e6 + tonumber(ARGV[4])
  redis.call('ZADD', KEYS[3], 'XX', at, ARGV[7])
end
return 1
"""
)


async def record_attempt(
    redis: Redis,
    delivery_id: str,
    attempt: Attempt,
    state: DeliveryState,
    *,
    body: bytes | None,
    retry_in_s: float | None,
) -> None:
    """Record an attempt, keep the body it sent (`body`, unless kept already) for every retry,
    and take the delivery off the schedule or move it to its next attempt, all at once."""
    args = [
        _attempt_json.encode(attempt).decode(),
        state,
        body.decode() if body is not None else "",  # JSON: UTF-8 text
        "" if retry_in_s is None else repr(max(0.0, retry_in_s)),
        str(MAX_ATTEMPTS_KEPT),
        str(DELIVERY_TTL_S),
        delivery_id,
    ]
    await _RECORD_ATTEMPT(
        redis, [keys.webhook_delivery(delivery_id), keys.webhook_attempts(delivery_id), keys.WEBHOOK_DELIVERIES], args
    )


async def job_deliveries(redis: Redis, job_id: str) -> list[DeliveryView]:
    """The job's deliveries, oldest first, with their attempts."""
    ids = [v.decode() for v in await redis.lrange(keys.job_webhooks(job_id), 0, -1)]  # type: ignore[misc]
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in ids:
            pipe.hmget(keys.webhook_delivery(delivery_id), ["type", "state", "at"])
            pipe.lrange(keys.webhook_attempts(delivery_id), 0, -1)
        replies: list[Any] = await pipe.execute()
    views = []
    for i, delivery_id in enumerate(ids):
        (kind, state, at), attempts = replies[2 * i], replies[2 * i + 1]
        if kind is None:
            continue  # expired
        views.append(
            DeliveryView(
                id=delivery_id,
                type=kind.decode(),
                state=state.decode(),
                created_at=float(at),
                attempts=[_attempt_decoder.decode(a) for a in attempts],
            )
        )
    return views
