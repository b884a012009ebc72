"""The end of a job a synchronous endpoint waited for (chat, the OpenAI media endpoints):
the final record, and the HTTP error a failed job answers with."""

from __future__ import annotations

from api.errors import APIError
from api.state import AppState
from queues import store
from queues.jobs import JobError, JobRecord


async def ended_job(state: AppState, job_id: str) -> JobRecord:
    record = await store.get_job(state.redis, job_id)
    if record is None:
        raise APIError("The job's result expired before it could be read.", code="job_expired", status=500)
    return record


def job_failure(record: JobRecord) -> APIError:
    """The HTTP error for a job that did not succeed, from the error the worker recorded
    (its status: 400 for a provider's refusal, 429 with Retry-After, 502/503/504)."""
    if record.status == "canceled":
        return APIError("The job was canceled before it finished.", code="job_canceled", status=409)
    error = record.error or JobError(message="The job failed.")
    headers = {}
    if error.status == 429:
        headers["Retry-After"] = str(max(1, round(error.retry_after or 1)))
    return APIError(
        error.message, code=error.code, param=error.param, headers=headers, status=error.status or 502, type=error.type
    )
