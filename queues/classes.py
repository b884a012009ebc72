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
    # By default a finished job's output is kept this long, then it reads as `expired`
    # (`MPC_RESULT_TTL_S` overrides it for every class: `queues.retention`).
    result_ttl_s: int

    @property
    def queue_name(self) -> str:
        return keys.QUEUE_NAMES[self.name]


QUEUE_CLASS_LIMITS: dict[str, QueueClassLimits] = {
    "interactive": QueueClassLimits(name="interactive", max_jobs=64, job_timeout_s=300, result_ttl_s=3600),
    "batch": QueueClassLimits(name="batch", max_jobs=16, job_timeout_s=1800, result_ttl_s=86400),
    "media": QueueClassLimits(name="media", max_jobs=16, job_timeout_s=3600, result_ttl_s=86400),
}

# How long a queued job may wait for a worker before its arq entry expires.
MAX_QUEUED_S = 86400
