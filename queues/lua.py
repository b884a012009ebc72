"""A Lua script run by its SHA1, loaded into Redis the first time a server lacks it.

redis-py's `AsyncScript` sends the same commands (EVALSHA; on NoScriptError, SCRIPT LOAD and
EVALSHA again), but it is made from one client by `Redis.register_script` and falls back to
that client whenever a call leaves out `client=`. These scripts are module constants run on
whichever client the caller holds (the gateway's, a worker's, a test's own database), so the
client is a required argument here, not an optional one defaulting to a client made up only
to create the script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: Redis, keys: Sequence[str], args: Sequence[str]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:
            # A restarted or flushed server: load it once, then it runs by SHA again.
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
