"""What a job handler raises to fail its job with a client-visible error."""

from __future__ import annotations

from typing import Any

from queues.jobs import JobError


class JobFailed(Exception):
    """Fail the job with this error (OpenAI envelope fields plus `retryable`). `output`, when
    given, is kept beside the error (a plan's partial outputs)."""

    def __init__(
        self,
        message: str,
        *,
        type: str = "server_error",
        code: str | None = None,
        param: str | None = None,
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        output: Any = None,
    ) -> None:
        super().__init__(message)
        self.output = output
        self.error = JobError(
            message=message,
            type=type,
            code=code,
            param=param,
            retryable=retryable,
            status=status,
            retry_after=retry_after,
        )
