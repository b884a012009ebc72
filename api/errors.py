"""The gateway's error tree and its mapping to OpenAI's error envelope.

    APIError                      (status, type, code, param)
     ├── InvalidRequest           400 invalid_request_error
     │    └── BodyTooLarge        413
     ├── Unauthorized             401 authentication_error
     ├── NotFound                 404 invalid_request_error
     ├── Unprocessable            422 invalid_request_error
     ├── NotImplementedYet        501 not_implemented
     └── ServiceUnavailable       503 service_unavailable (with Retry-After)

Every error response, whatever raised it, is `{"error": {"message", "type", "code", "param"}}`
so OpenAI SDK clients surface it cleanly. Messages never contain secrets.
"""

from __future__ import annotations

import msgspec


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


class Unauthorized(APIError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class Unprocessable(APIError):
    status = 422
    type = "invalid_request_error"


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
