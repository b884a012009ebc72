"""Reading a `multipart/form-data` body part by part, as it arrives.

Uploads can be tens of megabytes: the file part's bytes are handed on chunk by chunk (to the
artifact store) while the request is still arriving, and the body's size is counted as it is
read, so a body over its cap is refused (413) as soon as it crosses it, never after it has been
read. Starlette's `Request.form()` would spool the whole file before the route sees any of it.

python-multipart's push parser calls back for each header and each slice of data; this module
turns those calls into a pull interface: `next_part()` for the next part's headers, then
`data()` for its bytes or `text()` for a small field. Parts not read are skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from api.errors import BodyTooLarge, InvalidRequest

MAX_PARTS = 32
MAX_FIELD_BYTES = 64 * 1024  # a text field (prompt, language, ...): far above any we accept


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None  # set for a file part
    content_type: str | None  # as the client declared it (never trusted: uploads are sniffed)


_Event = tuple[Literal["part"], FormPart] | tuple[Literal["data"], bytes] | tuple[Literal["end"], None]


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data body; 400 naming the header otherwise."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Expected a multipart/form-data body (with a boundary), as file uploads are sent.",
            code="invalid_content_type",
            param="Content-Type",
        )
    return boundary


class MultipartReader:
    """The parts of one multipart body read from `chunks`, refusing more than `max_bytes`."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes, *, max_bytes: int) -> None:
        self._chunks = chunks
        self._max_bytes = max_bytes
        self._read = 0
        self._parts = 0
        self._events: deque[_Event] = deque()
        self._finished = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError:
            raise _malformed() from None

    async def next_part(self) -> FormPart | None:
        """The next part's headers (skipping what is left of the current part), or None at the end."""
        while True:
            while self._events:
                event = self._events.popleft()
                if event[0] == "part":
                    return event[1]
            if self._finished:
                return None
            await self._fill()

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's bytes, as they arrive."""
        while True:
            while self._events:
                kind, value = self._events[0]
                if kind == "part":
                    return
                self._events.popleft()
                if kind == "end":
                    return
                assert isinstance(value, bytes)
                yield value
            if self._finished:
                return
            await self._fill()

    async def text(self, field: str) -> str:
        """The current part as a small UTF-8 text field; 400 naming `field` otherwise."""
        collected = bytearray()
        async for chunk in self.data():
            collected += chunk
            if len(collected) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"'{field}' is longer than {MAX_FIELD_BYTES} bytes.", param=field)
        try:
            return collected.decode()
        except UnicodeDecodeError:
            raise InvalidRequest(f"'{field}' is not valid UTF-8.", param=field) from None

    async def _fill(self) -> None:
        """Read and parse the next chunk of the body."""
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            if not self._finished:
                raise InvalidRequest(
                    "The multipart body ended before its closing boundary.", code="invalid_multipart"
                ) from None
            return
        self._read += len(chunk)
        if self._read > self._max_bytes:
            raise BodyTooLarge(f"The request body exceeds the limit of {self._max_bytes} bytes.")
        try:
            self._parser.write(chunk)
        except FormParserError:
            raise _malformed() from None

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidRequest(f"At most {MAX_PARTS} form fields.", code="invalid_multipart")
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        kind, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name")
        if kind != b"form-data" or name is None:
            raise InvalidRequest("Every form part needs a Content-Disposition with a name.", code="invalid_multipart")
        filename = options.get(b"filename")
        declared = self._headers.get(b"content-type")
        self._events.append(
            (
                "part",
                FormPart(
                    name=name.decode("utf-8", "replace"),
                    filename=None if filename is None else _base_name(filename.decode("utf-8", "replace")),
                    content_type=None if declared is None else declared.decode("latin-1").strip(),
                ),
            )
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self._events.append(("end", None))

    def _on_end(self) -> None:
        self._finished = True


def _base_name(filename: str) -> str:
    """The file's own name: browsers used to send a whole client-side path."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"


def _malformed() -> InvalidRequest:
    return InvalidRequest("The multipart body is malformed.", code="invalid_multipart")
