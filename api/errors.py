"""The gateway's error tree and its mapping to OpenAI's error envelope.

    APIError                      (status, type, code, param)
     ├── InvalidRequest           400 invalid_request_error
     │    ├── BodyTooLarge        413
     │    └── UnsupportedMedia    415
     ├── Unauthorized             401 authentication_error
     ├── Forbidden                403 invalid_request_error (a bad or expired artifact link)
     ├── NotFound                 404 invalid_request_error
     ├── Conflict                 409 invalid_request_error (not in a state for that: a video still generating)
     ├── Unprocessable            422 invalid_request_error
     ├── TooManyRequests          429 rate_limit_error (a key over its limits, with Retry-After)
     ├── NotImplementedYet        501 not_implemented
     └── ServiceUnavailable       503 service_unavailable (with Retry-After): Redis unreachable,
                                  read-only (mid-failover) or no replica confirmed a submission

Every error response, whatever raised it, is `{"error": {"message", "type", "code", "param"}}`
so OpenAI SDK clients surface it cleanly. Messages never contain secrets. `to_api_error` is
the one place where other exceptions (the brain's, Redis's, FastAPI's) become these errors;
the app's handlers and the fast lane both answer with it. The artifact store's errors are
mapped there too, with the statuses its own error tree names (416 carries `Content-Range`).
"""

from __future__ import annotations

import logging

import msgspec
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

from artifacts import (
    ArtifactError,
    ArtifactNotFound,
    ArtifactStoreUnavailable,
    ArtifactTooLarge,
    ContentTypeError,
    RangeNotSatisfiable,
    SignedUrlError,
)
from brain import BrainError, NoCandidate
from queues.replication import NotReplicated

log = logging.getLogger("mpc.api")


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorBody


class APIError(Exception):
    status = 500
    type = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers = headers or {}
        # Per-instance overrides, for errors relayed from a job with their own status.
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(ErrorBody(message=self.message, type=self.type, code=self.code, param=self.param))


class InvalidRequest(APIError):
    status = 400
    type = "invalid_request_error"


class BodyTooLarge(InvalidRequest):
    status = 413
    default_code = "body_too_large"


class UnsupportedMedia(InvalidRequest):
    status = 415
    default_code = "unsupported_media_type"


class Unauthorized(APIError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class Forbidden(APIError):
    status = 403
    type = "invalid_request_error"
    default_code = "forbidden"


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class Unprocessable(APIError):
    status = 422
    type = "invalid_request_error"


class TooManyRequests(APIError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class NotImplementedYet(APIError):
    status = 501
    type = "not_implemented"
    default_code = "not_implemented"


class ServiceUnavailable(APIError):
    status = 503
    type = "service_unavailable"
    default_code = "service_unavailable"


def redis_unavailable() -> ServiceUnavailable:
    """What any request that needed Redis gets while it is unreachable."""
    return ServiceUnavailable("Redis is unavailable; retry shortly.", headers={"Retry-After": "1"})


def not_replicated(exc: NotReplicated) -> ServiceUnavailable:
    """A submission no replica confirmed in time: not acknowledged, so the client retries
    (with its Idempotency-Key, it gets the same job back)."""
    log.warning("job %s: %d of %d replicas confirmed it in time", exc.job_id, exc.confirmed, exc.required)
    return ServiceUnavailable(
        f"Job {exc.job_id} is not yet on a Redis replica, so it is not acknowledged; retry shortly "
        "(with the same Idempotency-Key to get this job back).",
        code="not_replicated",
        headers={"Retry-After": "1"},
    )


def internal_error() -> APIError:
    """What a client gets for a bug: no detail (it is in the log)."""
    return APIError("Internal server error.", code="internal_error")


# The exceptions a request may end with that have an answer of their own (`to_api_error`);
# any other is a bug, answered with `internal_error()`.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    APIError,
    ArtifactError,
    BrainError,
    RedisConnectionError,
    RedisTimeoutError,
    RedisReadOnlyError,
    NotReplicated,
    RequestValidationError,
    HTTPException,
)


def to_api_error(exc: Exception) -> APIError:
    """The error a client is told for one of `EXPECTED_ERRORS`."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, BrainError):
        # The brain has no I/O, so its errors are all the request's: 422, on every route.
        param = exc.constraint if isinstance(exc, NoCandidate) else exc.param
        return Unprocessable(exc.message, code=exc.code, param=param)
    if isinstance(exc, ArtifactError):
        return artifact_error(exc)
    if isinstance(exc, NotReplicated):
        return not_replicated(exc)
    # A read-only error comes from a primary demoted to a replica during a failover (its
    # clients' connections not yet moved): as unavailable as a connection refused.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | RedisReadOnlyError):
        log.warning("redis unavailable: %s", type(exc).__name__)
        return redis_unavailable()
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        message = f"{first.get('msg', 'invalid request')}" + (f" (at '{param}')" if param else "")
        return Unprocessable(message, code="invalid_value", param=param)
    if isinstance(exc, HTTPException):
        return APIError(
            str(exc.detail),
            code={404: "not_found", 405: "method_not_allowed"}.get(exc.status_code),
            headers=dict(exc.headers or {}),
            status=exc.status_code,
            type="invalid_request_error",
        )
    raise TypeError(f"{type(exc).__name__} is not one of EXPECTED_ERRORS") from exc


def artifact_error(exc: ArtifactError, *, param: str | None = None) -> APIError:
    """The answer to an artifact store error (its messages are safe to show); `param` names
    the request field it concerns, where there is one (an upload's `file`)."""
    if isinstance(exc, ArtifactStoreUnavailable):
        log.warning("artifact store unavailable: %s", exc.message)
        return ServiceUnavailable(exc.message, code=exc.code, headers={"Retry-After": "5"})
    if isinstance(exc, ArtifactNotFound):
        return NotFound(exc.message, code=exc.code, param=param)
    if isinstance(exc, ArtifactTooLarge):
        return BodyTooLarge(exc.message, code="file_too_large", param=param)
    if isinstance(exc, ContentTypeError):
        return UnsupportedMedia(exc.message, code=exc.code, param=param)
    if isinstance(exc, RangeNotSatisfiable):
        headers = {"Content-Range": f"bytes */{exc.size}"}
        return APIError(exc.message, code=exc.code, headers=headers, status=416, type="invalid_request_error")
    if isinstance(exc, SignedUrlError):
        return Forbidden(exc.message, code=exc.code)
    return InvalidRequest(exc.message, code=exc.code, param=param)  # InvalidArtifactName
