"""Managed API keys, kept in Redis: created, listed, changed and revoked by name.

A key itself is shown once, when it is made, and never stored: Redis holds its SHA-256
digest (`mpc:api_keys`, digest -> JSON record) and its name (`mpc:api_key_names`, name ->
digest). The record says who owns the key's data, when it was made, what it may do
(scopes) and how much (limits). Every change bumps `mpc:api_keys:version`; a gateway reads
that counter twice a second and reloads every record when it has moved (`api.keyring`),
so a revoked key stops working on every gateway within a second, and no request waits on
Redis to learn about its key.

Owner ids: the jobs, uploads, videos and webhook secrets of a managed key are kept under an
id of its own (`key_…`, random, made with the key), never under the key or its digest, so an
owner id in a record or a Redis key name says nothing about the key, and it stays the same
whatever is changed about the key. (Keys from `MPC_API_KEYS` own their data under their
digest, as they always have.)
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

import msgspec
from redis.asyncio import Redis

from queues import keys
from queues.classes import QUEUE_CLASS_LIMITS
from queues.lua import LuaScript
from queues.settings import hash_api_key

# What a key may do. `select`: model selection and the catalog; `chat`: chat completions and
# embeddings; `jobs`: the jobs API and webhook secrets; `media`: images, audio, video, files;
# `admin`: managing keys.
SCOPES = ("select", "chat", "jobs", "media", "admin")
DEFAULT_SCOPES = tuple(scope for scope in SCOPES if scope != "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LIMIT = 1_000_000_000


class KeySpecError(ValueError):
    """A key's name, scopes or limits are not usable; the message names the field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class KeyNameTaken(Exception):
    """A key with that name exists already."""


class UnknownKey(LookupError):
    """No key has that name."""


class KeyLimits(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-key limits; None (or a class left out) is no limit."""

    rpm: int | None = None  # requests per minute, every route
    tpm: int | None = None  # tokens per minute, as the workers report their usage
    concurrency: dict[str, int] = {}  # queue class -> jobs at once (queued or running)

    def any(self) -> bool:
        return self.rpm is not None or self.tpm is not None or bool(self.concurrency)


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A managed key's record (what `mpc:api_keys` holds, by digest)."""

    name: str
    owner: str
    created_at: float
    scopes: tuple[str, ...]
    limits: KeyLimits = KeyLimits()


class ListedKey(msgspec.Struct, frozen=True, kw_only=True):
    """What listing shows of a key: never the key, its digest or its owner id."""

    name: str
    created_at: float
    last_used_at: float | None
    scopes: tuple[str, ...]
    limits: KeyLimits


NO_LIMITS = KeyLimits()


def _encode(record: ApiKey) -> str:
    return msgspec.json.encode(record).decode()


_decode_key = msgspec.json.Decoder(ApiKey).decode


def new_secret() -> str:
    """A new key: 256 random bits, with a prefix that secret scanners and people recognise."""
    return "mpc_" + secrets.token_urlsafe(32)


def checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise KeySpecError(
            "A key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.", "name"
        )
    return name


def checked_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(wanted.difference(SCOPES))
    if unknown:
        raise KeySpecError(f"Unknown scope '{unknown[0]}': scopes are {', '.join(SCOPES)}.", "scopes")
    if not wanted:
        raise KeySpecError(f"A key needs at least one scope of {', '.join(SCOPES)}.", "scopes")
    return tuple(scope for scope in SCOPES if scope in wanted)


def checked_limit(value: int | None, field: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_LIMIT:
        raise KeySpecError(f"'{field}' must be a whole number from 1 to {MAX_LIMIT}, or none for no limit.", field)
    return value


def checked_concurrency(changes: Mapping[str, int | None], current: Mapping[str, int]) -> dict[str, int]:
    """`current` with `changes` applied: a class set to a number, or to None for no limit."""
    merged = dict(current)
    for queue_class, value in changes.items():
        if queue_class not in QUEUE_CLASS_LIMITS:
            raise KeySpecError(
                f"Unknown queue class '{queue_class}': classes are {', '.join(QUEUE_CLASS_LIMITS)}.", "concurrency"
            )
        if value is None:
            merged.pop(queue_class, None)
        else:
            checked_limit(value, "concurrency")
            merged[queue_class] = value
    return merged


# KEYS: names, records, version. ARGV: name, digest, record JSON. 1 made, 0 name taken.
_CREATE = LuaScript(
    """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[3])
return 1
"""
)

# KEYS: names, records, version, last uses. ARGV: name. 1 revoked, 0 no such key.
_REVOKE = LuaScript(
    """
local digest = redis.call('HGET', KEYS[1], ARGV[1])
if not digest then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], digest)
redis.call('HDEL', KEYS[4], digest)
redis.call('INCR', KEYS[3])
return 1
"""
)

# KEYS: names, records, version. ARGV: name, the record as read, the new record.
# 1 changed, 0 no such key, -1 changed meanwhile (read again).
_REPLACE = LuaScript(
    """
local digest = redis.call('HGET', KEYS[1], ARGV[1])
if not digest then return 0 end
if redis.call('HGET', KEYS[2], digest) ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[2], digest, ARGV[3])
redis.call('INCR', KEYS[3])
return 1
"""
)


async def create_key(
    redis: Redis,
    name: str,
    *,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    limits: KeyLimits = NO_LIMITS,
    now: float | None = None,
) -> tuple[ApiKey, str]:
    """Make a key; returns its record and the key itself (shown once: it is not kept)."""
    record = ApiKey(
        name=checked_name(name),
        owner="key_" + secrets.token_hex(12),
        created_at=round(time.time() if now is None else now, 3),
        scopes=checked_scopes(scopes),
        limits=_checked_limits(limits),
    )
    secret = new_secret()
    made = await _CREATE(
        redis, [keys.API_KEY_NAMES, keys.API_KEYS, keys.API_KEYS_VERSION], [name, hash_api_key(secret), _encode(record)]
    )
    if not made:
        raise KeyNameTaken(name)
    return record, secret


async def revoke_key(redis: Redis, name: str) -> None:
    found = await _REVOKE(
        redis, [keys.API_KEY_NAMES, keys.API_KEYS, keys.API_KEYS_VERSION, keys.API_KEYS_LAST_USED], [name]
    )
    if not found:
        raise UnknownKey(name)


async def update_key(redis: Redis, name: str, change: Callable[[ApiKey], ApiKey]) -> ApiKey:
    """Apply `change` to the key's record (read, changed, written only if still as read)."""
    while True:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.API_KEY_NAMES, name)
            pipe.hgetall(keys.API_KEYS)
            digest, records = await pipe.execute()
        current = records.get(digest) if digest is not None else None
        if current is None:
            raise UnknownKey(name)
        changed = change(_decode_key(current))
        changed = msgspec.structs.replace(
            changed, scopes=checked_scopes(changed.scopes), limits=_checked_limits(changed.limits)
        )
        done = await _REPLACE(
            redis,
            [keys.API_KEY_NAMES, keys.API_KEYS, keys.API_KEYS_VERSION],
            [name, current.decode(), _encode(changed)],
        )
        if done == 0:
            raise UnknownKey(name)
        if done == 1:
            return changed


async def list_keys(redis: Redis) -> list[ListedKey]:
    """Every managed key, by name."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.API_KEYS)
        pipe.hgetall(keys.API_KEYS_LAST_USED)
        records, last_used = await pipe.execute()
    listed = []
    for digest, raw in records.items():
        record = _decode_key(raw)
        used = last_used.get(digest)
        listed.append(
            ListedKey(
                name=record.name,
                created_at=record.created_at,
                last_used_at=float(used) if used is not None else None,
                scopes=record.scopes,
                limits=record.limits,
            )
        )
    return sorted(listed, key=lambda key: key.name)


async def keys_version(redis: Redis) -> int:
    raw = await redis.get(keys.API_KEYS_VERSION)
    return int(raw) if raw is not None else 0


async def load_keys(redis: Redis) -> tuple[int, dict[str, ApiKey]]:
    """The version and every record by digest, read together (one MULTI)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(keys.API_KEYS_VERSION)
        pipe.hgetall(keys.API_KEYS)
        version, records = await pipe.execute()
    loaded = {digest.decode(): _decode_key(raw) for digest, raw in records.items()}
    return (int(version) if version is not None else 0), loaded


async def record_uses(redis: Redis, used_at: Mapping[str, float]) -> None:
    """The coarse last use of keys, by digest (a gateway's batch)."""
    if used_at:
        await redis.hset(keys.API_KEYS_LAST_USED, mapping={d: repr(round(t)) for d, t in used_at.items()})  # type: ignore[misc]


def _checked_limits(limits: KeyLimits) -> KeyLimits:
    return KeyLimits(
        rpm=checked_limit(limits.rpm, "rpm"),
        tpm=checked_limit(limits.tpm, "tpm"),
        concurrency=checked_concurrency(limits.concurrency, {}),
    )
