"""Reading and decoding request bodies with msgspec: a size cap, and errors that name the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import msgspec
from starlette.requests import Request

from api.errors import BodyTooLarge, InvalidRequest, Unprocessable
from catalog.errors import problem_and_path

T = TypeVar("T")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing (413) anything over `max_bytes` before reading it all."""
    return await collect_body(request.stream(), request.headers.get("content-length"), max_bytes)


async def collect_body(stream: AsyncIterator[bytes], declared: str | None, max_bytes: int) -> bytes:
    """`read_body` for any stream of body chunks, with the Content-Length the client declared."""
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"Request body is {declared} bytes; the limit is {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"Request body exceeds the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode JSON into a Struct: bad JSON → 400, wrong shape or value → 422 naming the field."""
    if not raw.strip():
        raise InvalidRequest("Request body is empty; expected a JSON object.", code="invalid_json")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise unprocessable(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.", code="invalid_json") from None


def unprocessable(exc: msgspec.ValidationError) -> Unprocessable:
    """The 422 for a value of the wrong shape, naming the field in `param`."""
    problem, param = split_validation_error(exc)
    return Unprocessable(f"{problem}" + (f" (at '{param}')" if param else ""), code="invalid_value", param=param)


def split_validation_error(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """msgspec says "Expected `int`, got `str` - at `$.a[0]`": return the problem and "a[0]"."""
    problem, path = problem_and_path(exc)
    return problem, (path.removeprefix("$").lstrip(".") or None) if path is not None else None
