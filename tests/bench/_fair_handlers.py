"""Job handler for the fair_share benchmark, loaded by a real media worker via
MPC_WORKER_HANDLERS: a `tts` job that holds its worker slot for `input.hold_s` seconds, as a
provider call of fixed length would, and does nothing else (the benchmark measures when jobs
start, which the claim decides, not what they do)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from workers.context import Handler, JobContext


async def hold(job: JobContext) -> Any:
    await asyncio.sleep(float(job.input["hold_s"]))
    return None


HANDLERS: Mapping[str, Handler] = {"tts": hold}
