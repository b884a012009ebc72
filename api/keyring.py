"""The gateway's copy of every API key it accepts: `MPC_API_KEYS` and the managed keys in Redis.

Requests look their key up here and never wait on Redis for it (the select-model fast lane
has no Redis round trip). The background refresh (`api.refresh`, every `KEYS_REFRESH_S`)
reads the managed keys' version counter, one GET, and reloads the records only when it has
moved: so a key made, changed or revoked anywhere counts on this gateway within that
interval plus one reload, and a missed message cannot leave a stale key behind, as a
pub/sub invalidation alone could after a reconnect.

The refresh also writes the coarse last use of the keys that were used (to the minute: a
key used again within `LAST_USE_RESOLUTION_S` of its last write is not written again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from queues.api_keys import NO_LIMITS, SCOPES, ApiKey, KeyLimits, keys_version, load_keys, record_uses

KEYS_REFRESH_S = 0.5
LAST_USE_RESOLUTION_S = 60.0


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated key: whose data it reaches, what it may do, how much."""

    owner: str  # the id its jobs, files, videos and webhook secrets are kept under
    digest: str
    scopes: frozenset[str]
    limits: KeyLimits
    managed: bool  # False: a key of MPC_API_KEYS


def bootstrap_caller(digest: str) -> Caller:
    """A key of `MPC_API_KEYS`: every scope, admin included (it is how an operator makes the
    first managed keys over HTTP), and no limits; its data is kept under its digest."""
    return Caller(owner=digest, digest=digest, scopes=frozenset(SCOPES), limits=NO_LIMITS, managed=False)


def managed_caller(digest: str, record: ApiKey) -> Caller:
    return Caller(
        owner=record.owner, digest=digest, scopes=frozenset(record.scopes), limits=record.limits, managed=True
    )


class KeyRing:
    def __init__(self, redis: Redis, bootstrap_digests: tuple[str, ...]) -> None:
        self.redis = redis
        self._bootstrap = {digest: bootstrap_caller(digest) for digest in bootstrap_digests}
        self._callers = dict(self._bootstrap)
        self._by_owner = {caller.owner: caller for caller in self._callers.values()}
        self._version = -1
        self._unwritten: dict[str, float] = {}  # digest -> last use not yet in Redis
        self._written: dict[str, float] = {}  # digest -> when its last use was written

    def find(self, digest: str) -> Caller | None:
        return self._callers.get(digest)

    def by_owner(self, owner: str) -> Caller | None:
        return self._by_owner.get(owner)

    def note_use(self, caller: Caller, now: float) -> None:
        if caller.managed and now - self._written.get(caller.digest, 0.0) >= LAST_USE_RESOLUTION_S:
            self._unwritten[caller.digest] = now

    async def refresh(self) -> None:
        """Reload the managed keys if they changed; write the last uses noted since last time."""
        if await keys_version(self.redis) != self._version:
            version, records = await load_keys(self.redis)
            callers = dict(self._bootstrap)
            for digest, record in records.items():
                callers.setdefault(digest, managed_caller(digest, record))  # a bootstrap key keeps its rights
            self._callers = callers
            self._by_owner = {caller.owner: caller for caller in callers.values()}
            self._version = version
        if self._unwritten:
            uses, self._unwritten = self._unwritten, {}
            await record_uses(self.redis, uses)
            self._written.update(uses)
            # Forget what no longer matters, so the map does not grow with revoked keys.
            horizon = time.time() - LAST_USE_RESOLUTION_S
            self._written = {d: t for d, t in self._written.items() if t > horizon}
