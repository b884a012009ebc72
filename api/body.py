"""Reading and decoding request bodies with msgspec: a size cap, a nesting cap, and errors
that name the field.

msgspec's decoder has no depth limit of its own: it recurses until Python's recursion limit
(~1,000 levels) and raises RecursionError, and whatever walks the decoded value afterwards
(token estimates, re-encoding into a job) would recurse as deep. So every JSON body is
checked against `MAX_JSON_DEPTH` before it is decoded; the check costs two byte counts for
the usual body (it cannot nest deeper than it has brackets) and one pass in C otherwise.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from itertools import accumulate
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from api.errors import BodyTooLarge, InvalidRequest, Unprocessable
from catalog.errors import problem_and_path

T = TypeVar("T")

# Deeper than any OpenAI body or JSON schema a client sends in practice (tools' parameter
# schemas nest a few levels per object), far below where recursion becomes a risk.
MAX_JSON_DEPTH = 64
# A JSON string once its escapes are gone (brackets inside it nest nothing).
_JSON_STRING = re.compile(rb'"[^"]*"')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets as +1, closing as -1 (as signed bytes), so depth is a running sum.
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_any_json = msgspec.json.Decoder()


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
    check_json_depth(raw)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise unprocessable(exc) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.", code="invalid_json") from None
    except RecursionError:  # not reached past the depth check; kept so it can never be a 500
        raise too_deep(param=None) from None


def parse_json(raw: bytes | str, *, param: str | None = None) -> Any:
    """Any JSON value (a body, or a form field holding JSON: `param` names it), with the
    same depth cap; a 400 naming the problem otherwise."""
    where = f"'{param}'" if param else "Request body"
    data = raw.encode() if isinstance(raw, str) else raw
    check_json_depth(data, param=param)
    try:
        return _any_json.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"{where} is not valid JSON: {exc}", code="invalid_json", param=param) from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where} is not valid UTF-8.", code="invalid_json", param=param) from None
    except RecursionError:
        raise too_deep(param=param) from None


def check_json_depth(raw: bytes, *, param: str | None = None) -> None:
    """A 400 if `raw` nests arrays and objects deeper than `MAX_JSON_DEPTH`."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise too_deep(param=param)


def json_depth(raw: bytes) -> int:
    """How deep `raw` nests arrays and objects (brackets inside strings do not count), or a
    bound of it when that bound is within `MAX_JSON_DEPTH`: cheap first, exact when needed."""
    openings = raw.count(b"[") + raw.count(b"{")
    if openings <= MAX_JSON_DEPTH:
        return openings
    counting_strings_too = _deepest(raw)
    if counting_strings_too <= MAX_JSON_DEPTH:
        return counting_strings_too
    # Drop escaped backslashes, then escaped quotes, so every remaining quote delimits a string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return _deepest(_JSON_STRING.sub(b"", unescaped))


def _deepest(text: bytes) -> int:
    steps = text.translate(_BRACKET_STEP, _NOT_A_BRACKET)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def too_deep(*, param: str | None) -> InvalidRequest:
    where = f"'{param}'" if param else "Request body"
    return InvalidRequest(
        f"{where} nests JSON arrays or objects more than {MAX_JSON_DEPTH} levels deep.",
        code="json_too_deep",
        param=param,
    )


def unprocessable(exc: msgspec.ValidationError) -> Unprocessable:
    """The 422 for a value of the wrong shape, naming the field in `param`."""
    problem, param = split_validation_error(exc)
    return Unprocessable(f"{problem}" + (f" (at '{param}')" if param else ""), code="invalid_value", param=param)


def split_validation_error(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """msgspec says "Expected `int`, got `str` - at `$.a[0]`": return the problem and "a[0]"."""
    problem, path = problem_and_path(exc)
    return problem, (path.removeprefix("$").lstrip(".") or None) if path is not None else None
