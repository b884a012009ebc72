"""A stock arq worker (default settings, so poll_delay 0.5 s) for the pickup baseline.

`python -m tests.bench._stock_arq` runs it on its own queue in the benchmark Redis db.
"""

from __future__ import annotations

import os
import time
from typing import Any

from arq.connections import RedisSettings
from arq.worker import run_worker

QUEUE = "bench:stock-arq:queue"
STARTS_PREFIX = "bench:pickup:stock-arq:"  # + job id -> list holding time.time() at function start
FUNCTION = "record_start"


async def record_start(ctx: dict[str, Any]) -> None:
    started = time.time()
    await ctx["redis"].rpush(STARTS_PREFIX + ctx["job_id"], repr(started))


class WorkerSettings:
    functions = [record_start]
    queue_name = QUEUE
    redis_settings = RedisSettings.from_dsn(os.environ.get("MPC_REDIS_URL", "redis://127.0.0.1:6379/10"))


if __name__ == "__main__":
    run_worker(WorkerSettings)  # type: ignore[arg-type]
