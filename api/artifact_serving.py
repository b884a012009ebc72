"""Answering a GET for a stored artifact: streamed, with `Range`, `ETag` and `If-None-Match`.

One code path for every way an artifact is fetched: with the API key
(`GET /api/jobs/{id}/artifacts/{name}`, `GET /api/files/{id}/content`) and through a signed
link (`GET /api/artifacts/{job_id}/{name}`).

Ranges: one `bytes=` range is served as a 206. A header this server does not serve, several
ranges or a unit other than bytes, is ignored and the whole artifact sent with a 200 (RFC 9110
14.2 lets a server ignore `Range`); a single range outside the artifact is a 416 with
`Content-Range: bytes */size`. `If-Range` with an ETag that is no longer current also sends
the whole artifact. `If-None-Match` with the current ETag (or `*`) is a 304.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from artifacts import Artifact, ArtifactStore, ByteRange

_ONE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def parse_range(header: str | None) -> ByteRange | None:
    """The one byte range asked for, or None for a header we serve as a whole answer."""
    if not header:
        return None
    match = _ONE_RANGE.match(header)
    if match is None:
        return None  # several ranges, another unit, or not a range at all
    first, last = match[1], match[2]
    if first:
        if last and int(last) < int(first):
            return None  # not a valid range (RFC 9110 14.1.1): ignored
        return ByteRange(int(first), int(last) if last else None)
    if last:
        return ByteRange(None, int(last))
    return None  # "bytes=-": nothing asked for


def _matches(header: str, etag: str) -> bool:
    """Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 13.1.2 says)."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def content_disposition(disposition: str, filename: str) -> str:
    """`inline`/`attachment` with the name as plain ASCII and, for any other name, RFC 6266's
    `filename*` too."""
    plain = _FILENAME_UNSAFE.sub("_", filename) or "download"
    value = f'{disposition}; filename="{plain}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _headers(artifact: Artifact, disposition: str, filename: str | None) -> dict[str, str]:
    return {
        "ETag": artifact.etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(disposition, filename or artifact.name),
        "Cache-Control": "private, no-cache",  # revalidate with the ETag: cheap, never stale
        "X-Content-Type-Options": "nosniff",  # the stored type was verified; never guess another
    }


async def artifact_response(
    store: ArtifactStore,
    job_id: str,
    name: str,
    request_headers: Mapping[str, str],
    *,
    disposition: str = "inline",
    filename: str | None = None,
) -> Response:
    """The response for a GET of an artifact whose caller is already allowed to read it.
    Store errors (not found, bad range, unavailable) propagate for the error handler."""
    byte_range = parse_range(request_headers.get("range"))
    if_none_match = request_headers.get("if-none-match")
    if_range = request_headers.get("if-range")
    if if_none_match or (if_range and byte_range is not None):
        # Conditions come before the range (RFC 9110 13.2.2): a 304 even for a range we could
        # not serve.
        artifact = await store.describe(job_id, name)
        if if_none_match and _matches(if_none_match, artifact.etag):
            return Response(status_code=304, headers=_headers(artifact, disposition, filename))
        if if_range and if_range.strip() != artifact.etag:
            byte_range = None
    stream = await store.open(job_id, name, byte_range)
    headers = _headers(stream.artifact, disposition, filename)
    headers["Content-Length"] = str(stream.length)
    if stream.partial:
        headers["Content-Range"] = stream.content_range
    return StreamingResponse(
        stream,
        status_code=206 if stream.partial else 200,
        headers=headers,
        media_type=stream.artifact.content_type,
        # Releases the file or HTTP body if the client left before the end.
        background=BackgroundTask(stream.aclose),
    )
