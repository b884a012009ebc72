"""Job handler for the pickup benchmark, loaded by a real worker via MPC_WORKER_HANDLERS.

The handler's first act is to note the time: that instant is the job's start as the
benchmark counts it (enqueue → handler running). It pushes the time onto a per-job list the
benchmark waits on with BLPOP, so the benchmark process sleeps (and takes no CPU from the
worker) while the job is being picked up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from workers.context import Handler, JobContext

PICKUP_PREFIX = "bench:pickup:ours:"  # + job id -> list holding time.time() at handler start


async def record_start(job: JobContext) -> Any:
    started = time.time()
    await job.redis.rpush(PICKUP_PREFIX + job.job_id, repr(started))  # type: ignore[misc]
    return None


HANDLERS: Mapping[str, Handler] = {"chat_general": record_start}
