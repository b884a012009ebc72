"""Uploads (`POST /api/files`): who owns each one and what it is, in Redis.

The bytes live in the artifact store, as artifact `UPLOAD_ARTIFACT` of a pseudo-job whose id
is the file id; this record says who may use them. The gateway writes it once the bytes are
stored (an upload whose record never came is only an artifact that expires), and reads it to
check a job that names a `file_id`; the worker opens the artifact itself. The record expires
with the upload, so neither outlives the other by more than the store's sweep interval.
"""

from __future__ import annotations

import secrets

import msgspec
from redis.asyncio import Redis

from queues import keys

FILE_TTL_S = 86400  # an upload is kept a day: long enough for the jobs that use it
UPLOAD_ARTIFACT = "content"  # the artifact name an upload is stored under


class FileRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    owner: str  # the uploader's API-key digest
    filename: str
    bytes: int
    content_type: str  # as the artifact store verified it from the bytes
    purpose: str
    created_at: float
    expires_at: float


_decoder = msgspec.json.Decoder(FileRecord)


def new_file_id() -> str:
    """The id `catalog.inputs` accepts as a `file_id`."""
    return "file_" + secrets.token_urlsafe(18)


async def save_file(redis: Redis, record: FileRecord, *, now: float) -> None:
    ttl_s = max(1, int(record.expires_at - now))
    await redis.set(keys.file(record.id), msgspec.json.encode(record), ex=ttl_s)


async def get_file(redis: Redis, file_id: str) -> FileRecord | None:
    raw = await redis.get(keys.file(file_id))
    return None if raw is None else _decoder.decode(raw)


async def delete_file(redis: Redis, file_id: str) -> bool:
    return bool(await redis.delete(keys.file(file_id)))
