"""The steps every provider endpoint shares: read and log the request, resolve its
behaviour, answer errors in the provider's own shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from sandbox.emulator.behaviour import Behaviour, DirectiveError
from sandbox.emulator.reply import new_id
from sandbox.emulator.state import EmulatorState, LoggedRequest, state_of
from sandbox.emulator.transport import EmulatedResponse, dump

#: (status, message, retry_after) -> provider error body
ErrorShape = Callable[[int, str, float | None], dict[str, Any]]

STATUS_MESSAGES = {
    400: "Bad request",
    401: "Invalid authentication",
    403: "Permission denied",
    404: "Not found",
    408: "Request timed out",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable request",
    429: "Rate limit reached (emulated)",
    500: "Internal server error (emulated)",
    502: "Bad gateway (emulated)",
    503: "Service unavailable (emulated)",
    504: "Gateway timeout (emulated)",
    529: "Overloaded (emulated)",
}


def status_message(status: int) -> str:
    return STATUS_MESSAGES.get(status, f"Emulated HTTP {status}")


def retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


@dataclass
class Call:
    request: Request
    state: EmulatorState
    entry: LoggedRequest
    provider: str
    body: Any
    shape: ErrorShape
    request_id_header: str = "x-request-id"

    @property
    def model(self) -> str:
        return self.entry.model or ""

    @property
    def json_body(self) -> dict[str, Any] | None:
        return self.body if isinstance(self.body, dict) else None

    def behaviour(self, text: str, *, counted: tuple[str, ...] | None = None) -> Behaviour:
        """Resolve per-model and per-request settings; raises ``DirectiveError``."""
        header = self.request.headers.get("x-emulator")
        return self.state.resolve(self.entry.model, header=header, text=text, counted=counted)

    def headers(self) -> dict[str, str]:
        return {self.request_id_header: new_id("req_")}

    def finish(self, response: EmulatedResponse, *, stream: bool = False) -> EmulatedResponse:
        self.entry.status = response.status
        self.entry.stream = stream and response.status < 400
        self.entry.behaviour = response.behaviour.describe()
        return response

    def error(self, status: int, message: str | None = None, *, behaviour: Behaviour | None = None) -> EmulatedResponse:
        behaviour = behaviour or Behaviour()
        headers = self.headers()
        if behaviour.retry_after is not None:
            headers["retry-after"] = retry_after_header(behaviour.retry_after)
        body = self.shape(status, message or status_message(status), behaviour.retry_after)
        return self.finish(EmulatedResponse(behaviour=behaviour, status=status, headers=headers, body=dump(body)))

    def resolve_or_error(self, text: str, *, counted: tuple[str, ...] | None = None) -> Behaviour | EmulatedResponse:
        """The behaviour, or the response to send instead (bad directive, injected status)."""
        try:
            behaviour = self.behaviour(text, counted=counted)
        except DirectiveError as exc:
            return self.error(400, str(exc))
        if behaviour.status is not None:
            return self.error(behaviour.status, behaviour=behaviour)
        return behaviour


async def begin(request: Request, provider: str, shape: ErrorShape, *, model: str | None = None) -> Call:
    """Read and log a provider request. ``model`` overrides the body's ``model`` field."""
    state = state_of(request)
    raw = await request.body()
    call = Call(
        request=request,
        state=state,
        entry=state.record(request, provider=provider, model=None, raw_body=raw),
        provider=provider,
        body=None,
        shape=shape,
    )
    call.body = call.entry.body
    if model is None and isinstance(call.body, dict) and isinstance(call.body.get("model"), str):
        model = call.body["model"]
    call.entry.model = model
    return call


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
