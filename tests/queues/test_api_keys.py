"""The managed keys' store, on the real Redis and on fakeredis (the `--fake-redis` dev stack)."""

from __future__ import annotations

import msgspec
import pytest
from redis.asyncio import Redis

from queues.api_keys import (
    KeyLimits,
    KeyNameTaken,
    KeySpecError,
    UnknownKey,
    create_key,
    keys_version,
    list_keys,
    load_keys,
    record_uses,
    revoke_key,
    update_key,
)
from queues.settings import hash_api_key


async def test_create_update_revoke_each_move_the_version(redis: Redis) -> None:
    record, secret = await create_key(redis, "a", scopes=["chat", "select"], limits=KeyLimits(rpm=10))
    assert record.scopes == ("select", "chat") and record.owner.startswith("key_")
    assert await keys_version(redis) == 1
    version, loaded = await load_keys(redis)
    assert version == 1 and loaded == {hash_api_key(secret): record}
    with pytest.raises(KeyNameTaken):
        await create_key(redis, "a")
    changed = await update_key(
        redis, "a", lambda r: msgspec.structs.replace(r, limits=KeyLimits(tpm=5, concurrency={"media": 1}))
    )
    assert changed.owner == record.owner and changed.limits == KeyLimits(tpm=5, concurrency={"media": 1})
    await record_uses(redis, {hash_api_key(secret): 1_700_000_000.0})
    [listed] = await list_keys(redis)
    assert listed.last_used_at == 1_700_000_000.0 and listed.limits.tpm == 5
    await revoke_key(redis, "a")
    assert await keys_version(redis) == 3
    assert await load_keys(redis) == (3, {})
    with pytest.raises(UnknownKey):
        await revoke_key(redis, "a")
    with pytest.raises(UnknownKey):
        await update_key(redis, "a", lambda r: r)


async def test_bad_specs_name_their_field(redis: Redis) -> None:
    for kwargs, field in (
        ({"scopes": ["everything"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"limits": KeyLimits(rpm=0)}, "rpm"),
        ({"limits": KeyLimits(concurrency={"gpu": 1})}, "concurrency"),
    ):
        with pytest.raises(KeySpecError) as raised:
            await create_key(redis, "k", **kwargs)  # type: ignore[arg-type]
        assert raised.value.field == field
    assert await keys_version(redis) == 0
