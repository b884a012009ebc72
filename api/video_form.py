"""The body of `POST /api/videos`, as a JSON object or as the multipart form OpenAI's SDK
sends (always a form, even without a file), made into one plain body.

The SDK flattens nested values into bracketed names (`input_reference[file_id]`,
`providers[deny][]`) and sends every scalar as text; the form is read part by part with the
project's streaming parser, the `input_reference` file part stored as an upload as it
arrives, and the other fields rebuilt into the JSON body they stand for: `seconds` and
`fallbacks` as numbers, `providers` and `domains` also accepted as JSON text (as the
transcription form takes them). Fields this endpoint has no use for are skipped, as OpenAI's
SDKs add new ones over time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from api.body import parse_json, read_body
from api.errors import InvalidRequest
from api.file_service import FieldCheck, Upload, discard, read_form
from api.media_chain import STEERING_FIELDS
from api.media_jobs import json_body
from api.state import AppState

# The body's fields of the video's own (OpenAI's, then the extension fields the job's input
# takes), and the file part.
VIDEO_BODY_FIELDS = ("prompt", "seconds", "size", "aspect_ratio", "avatar_id", "voice_id")
FILE_FIELD = "input_reference"
_KEPT = frozenset({*VIDEO_BODY_FIELDS, FILE_FIELD, "model", "task", "webhook", *STEERING_FIELDS})
_NAME = re.compile(r"^(?P<head>[A-Za-z_][A-Za-z0-9_]*)(?P<path>(?:\[[A-Za-z0-9_]*\])*)$")
_SEGMENT = re.compile(r"\[([A-Za-z0-9_]*)\]")
_JSON_TEXT_FIELDS = ("providers", "domains", "webhook", FILE_FIELD)
_INTEGER_FIELDS = ("seconds", "fallbacks")
_JSON_TYPES = {"application/json", "text/json"}


@dataclass(slots=True)
class VideoBody:
    """The body as JSON would have it, and the `input_reference` file if one was sent."""

    fields: dict[str, Any]
    upload: Upload | None = None


async def read_video_body(state: AppState, request: Request) -> VideoBody:
    """The body of a create request; 400 naming the field for a form value of the wrong kind."""
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type not in _JSON_TYPES and content_type.startswith("multipart/"):
        form = await read_form(state, request, accept=_accept, file_field=FILE_FIELD)
        try:
            return VideoBody(_coerced(_nested(form.fields)), form.upload)
        except BaseException:
            if form.upload is not None:
                await discard(state, form.upload)
            raise
    body = json_body(await read_body(request, state.settings.max_body_bytes))
    return VideoBody(_coerced(body, from_form=False))


def _accept(name: str) -> FieldCheck | None:
    match = _NAME.match(name)
    return _no_check if match is not None and match["head"] in _KEPT else None


def _no_check(_: str) -> None:
    """Values are checked once the whole body is rebuilt: a value's kind depends on its field."""


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """The form's bracketed names rebuilt into objects and lists: `a[b][]=x` is {"a": {"b": ["x"]}}."""
    body: dict[str, Any] = {}
    for name, value in pairs:
        match = _NAME.match(name)
        if match is None:  # `accept` kept only names that match
            continue
        path = [match["head"], *_SEGMENT.findall(match["path"])]
        _put(body, path, value, name)
    return body


def _put(target: dict[str, Any], path: list[str], value: str, name: str) -> None:
    key, rest = path[0], path[1:]
    if not rest:
        if key in target:
            raise InvalidRequest(f"The form sends '{name}' twice.", code="invalid_value", param=name)
        target[key] = value
        return
    if rest == [""]:  # `name[]`: one item of a list
        items = target.setdefault(key, [])
        if not isinstance(items, list):
            raise InvalidRequest(f"The form sends '{name}' both as a list and not.", code="invalid_value", param=name)
        items.append(value)
        return
    if rest[0] == "":
        raise InvalidRequest(f"The form field '{name}' nests too deep.", code="invalid_value", param=name)
    child = target.setdefault(key, {})
    if not isinstance(child, dict):
        raise InvalidRequest(f"The form sends '{name}' both as an object and not.", code="invalid_value", param=name)
    _put(child, rest, value, name)


def _coerced(body: dict[str, Any], *, from_form: bool = True) -> dict[str, Any]:
    """Numbers from text (OpenAI's `seconds` is a string even in JSON: "4") and, in a form,
    JSON text where an object or list is meant."""
    fixed = dict(body)
    for name in _INTEGER_FIELDS:
        value = fixed.get(name)
        if isinstance(value, str) and (from_form or name == "seconds"):
            if not value.strip().isdigit():
                raise InvalidRequest(f"'{name}' must be a whole number.", code="invalid_value", param=name)
            fixed[name] = int(value)
    if from_form:
        for name in _JSON_TEXT_FIELDS:
            value = fixed.get(name)
            if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
                fixed[name] = parse_json(value, param=name)
    return fixed
