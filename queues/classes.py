"""Queue classes: each has its own arq queue, worker pool and limits, so a flood of media
jobs never delays an interactive one."""

from __future__ import annotations

import msgspec

from catalog.schema import QueueClass
from queues import keys


class QueueClassLimits(msgspec.Struct, frozen=True, kw_only=True):
    name: QueueClass
    max_jobs: int  # concurrent jobs per worker process
    job_timeout_s: float  # a job running longer fails with code `job_timeout`
    result_ttl_s: int  # a finished job's output is kept this long, then it reads as `expired`

    @property
    def queue_name(self) -> str:
        return keys.QUEUE_NAMES[self.name]

    @property
    def record_ttl_s(self) -> int:
        """How long a job's record and events outlive its start (then its finish)."""
        return self.result_ttl_s + EXPIRED_GRACE_S


QUEUE_CLASS_LIMITS: dict[str, QueueClassLimits] = {
    "interactive": QueueClassLimits(name="interactive", max_jobs=64, job_timeout_s=300, result_ttl_s=3600),
    "batch": QueueClassLimits(name="batch", max_jobs=16, job_timeout_s=1800, result_ttl_s=86400),
    "media": QueueClassLimits(name="media", max_jobs=16, job_timeout_s=3600, result_ttl_s=86400),
}

# How long a queued job may wait for a worker before its arq entry expires.
MAX_QUEUED_S = 86400
# A finished job's record outlives its result by this much, so it can still say `expired`.
EXPIRED_GRACE_S = 86400
