"""A job as a client sees it: read over the API until it reaches a state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.waiting import wait_until

FINAL_STATUSES = ("succeeded", "failed", "canceled")


def job_state(api: httpx.Client, job_id: str) -> dict[str, Any]:
    state: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
    return state


def wait_for_job(
    api: httpx.Client, job_id: str, reached: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    """Read the job until `reached(state)`; return that state (fail the test at `timeout`)."""
    last: dict[str, Any] = {}

    def read() -> bool:
        last.clear()
        last.update(job_state(api, job_id))
        return reached(last)

    assert wait_until(read, timeout=timeout, interval=0.05), f"timed out; job {job_id} is {last}"
    return last


def wait_final(api: httpx.Client, job_id: str, timeout: float = 15) -> dict[str, Any]:
    return wait_for_job(api, job_id, lambda state: state["status"] in FINAL_STATUSES, timeout)
