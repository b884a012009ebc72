"""`/api/admin/keys`: the managed keys over HTTP, as `mpc-api keys` manages them (admin scope).

The bodies say what `mpc-api keys` options say: `rpm`, `tpm` (null: no limit) and
`concurrency` (queue class -> jobs at once; null for a class removes its limit).
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from api.body import decode
from api.errors import APIError, Conflict, InvalidRequest, NotFound
from queues.api_keys import (
    DEFAULT_SCOPES,
    ApiKey,
    KeyLimits,
    KeyNameTaken,
    KeySpecError,
    ListedKey,
    UnknownKey,
    checked_concurrency,
    create_key,
    list_keys,
    revoke_key,
    update_key,
)


class NewKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    rpm: int | None = None
    tpm: int | None = None
    concurrency: dict[str, int] = {}


class KeyChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    scopes: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    rpm: int | msgspec.UnsetType | None = msgspec.UNSET
    tpm: int | msgspec.UnsetType | None = msgspec.UNSET
    concurrency: dict[str, int | None] = {}


_new_key = msgspec.json.Decoder(NewKey)
_key_change = msgspec.json.Decoder(KeyChange)


def key_view(name: str, scopes: tuple[str, ...], limits: KeyLimits, **more: Any) -> dict[str, Any]:
    return {"object": "api_key", "name": name, "scopes": list(scopes), "limits": limits, **more}


async def listing(redis: Redis) -> dict[str, Any]:
    listed: list[ListedKey] = await list_keys(redis)
    return {
        "object": "list",
        "data": [
            key_view(k.name, k.scopes, k.limits, created_at=k.created_at, last_used_at=k.last_used_at) for k in listed
        ],
    }


async def create(redis: Redis, raw: bytes) -> dict[str, Any]:
    """The new key's record and, this once, the key."""
    request = decode(raw, _new_key)
    limits = KeyLimits(rpm=request.rpm, tpm=request.tpm, concurrency=request.concurrency)
    try:
        record, secret = await create_key(redis, request.name, scopes=request.scopes, limits=limits)
    except KeySpecError as exc:
        raise InvalidRequest(str(exc), code="invalid_value", param=exc.field) from None
    except KeyNameTaken:
        raise Conflict(f"A key named '{request.name}' exists already.", code="key_exists", param="name") from None
    return key_view(record.name, record.scopes, record.limits, created_at=record.created_at, key=secret)


async def update(redis: Redis, name: str, raw: bytes) -> dict[str, Any]:
    change = decode(raw, _key_change)

    def apply(record: ApiKey) -> ApiKey:
        limits = record.limits
        if change.rpm is not msgspec.UNSET:
            limits = msgspec.structs.replace(limits, rpm=change.rpm)
        if change.tpm is not msgspec.UNSET:
            limits = msgspec.structs.replace(limits, tpm=change.tpm)
        limits = msgspec.structs.replace(
            limits, concurrency=checked_concurrency(change.concurrency, limits.concurrency)
        )
        scopes = record.scopes if change.scopes is msgspec.UNSET else change.scopes
        return msgspec.structs.replace(record, scopes=scopes, limits=limits)

    try:
        record = await update_key(redis, name, apply)
    except KeySpecError as exc:
        raise InvalidRequest(str(exc), code="invalid_value", param=exc.field) from None
    except UnknownKey:
        raise _unknown(name) from None
    return key_view(record.name, record.scopes, record.limits, created_at=record.created_at)


async def revoke(redis: Redis, name: str) -> dict[str, Any]:
    try:
        await revoke_key(redis, name)
    except UnknownKey:
        raise _unknown(name) from None
    return {"object": "api_key", "name": name, "revoked": True}


def _unknown(name: str) -> APIError:
    return NotFound(f"No key is named '{name}'.", code="key_not_found", param="name")
