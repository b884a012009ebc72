"""Uploads: `POST /api/files` (OpenAI's Files shape) and the upload inside
`POST /api/audio/transcriptions`, read, read back and deleted.

The file part streams from the request into the artifact store (as artifact `content` of the
pseudo-job named by the file id), never held whole in memory; `MPC_MAX_UPLOAD_BYTES` is
counted as it arrives (413 the moment it is crossed, even with no Content-Length), and the
store decides the content type from the bytes (415 naming `file` for what it cannot verify:
the gateway never serves unverified content from its origin). The Redis record
(queues/files.py) is written last, so a refused upload leaves nothing in Redis.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from api.errors import BodyTooLarge, InvalidRequest, NotFound, artifact_error
from api.multipart import MultipartReader, boundary_of
from api.state import AppState
from artifacts import Artifact, ArtifactError
from queues.files import FILE_TTL_S, UPLOAD_ARTIFACT, FileRecord, delete_file, get_file, new_file_id, save_file

# OpenAI's purposes, so a client's usual value is accepted; ours are audio and images.
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
# Room for the form's other fields and the multipart framing, beyond the file's own cap.
FORM_OVERHEAD_BYTES = 1024 * 1024

FieldCheck = Callable[[str], None]


@dataclass(slots=True)
class Upload:
    """A form with one stored file: its fields (text) and the stored content."""

    file_id: str
    filename: str
    artifact: Artifact
    fields: dict[str, str] = field(default_factory=dict)


def _check_purpose(value: str) -> None:
    if value not in PURPOSES:
        raise InvalidRequest(f"'purpose' must be one of {', '.join(PURPOSES)}.", code="invalid_value", param="purpose")


@dataclass(slots=True)
class Form:
    """A multipart form read by `read_form`: its kept text fields in the order sent (a name
    may repeat: `domains[]`), and its file, stored as an upload, if one was sent."""

    fields: list[tuple[str, str]]
    upload: Upload | None


async def read_form(
    state: AppState, request: Request, *, accept: Callable[[str], FieldCheck | None], file_field: str = "file"
) -> Form:
    """Read a multipart form whose `file_field` part is stored as an upload (unless `accept`
    takes that name as text too: then only a part with a filename is the file). `accept` gives
    the check of each text field kept (run as soon as it is read, so a bad field sent before
    the file stores nothing), or None for a field to skip. A form refused after its file was
    stored deletes it."""
    limit = state.settings.max_upload_bytes + FORM_OVERHEAD_BYTES
    boundary = boundary_of(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"The upload is {declared} bytes; files are limited to {state.settings.max_upload_bytes} bytes.",
            code="file_too_large",
            param=file_field,
        )
    reader = MultipartReader(request.stream(), boundary, max_bytes=limit)
    file_id = new_file_id()
    stored: Upload | None = None
    fields: list[tuple[str, str]] = []
    try:
        while (part := await reader.next_part()) is not None:
            check = accept(part.name)
            if part.name == file_field and (part.filename is not None or check is None):
                if stored is not None:
                    one = f"Send one '{file_field}' per request."
                    raise InvalidRequest(one, code="invalid_value", param=file_field)
                artifact = await _store(state, file_id, reader, file_field)
                stored = Upload(file_id=file_id, filename=part.filename or "upload", artifact=artifact)
            elif check is not None:
                value = await reader.text(part.name)
                check(value)
                fields.append((part.name, value))
    except BaseException:
        if stored is not None:
            await discard(state, stored)
        raise
    return Form(fields, stored)


async def read_upload(
    state: AppState, request: Request, *, checks: Mapping[str, FieldCheck], required: tuple[str, ...] = ()
) -> Upload:
    """Read a multipart form whose `file` part is stored as an upload. `checks` names the text
    fields kept (each checked as soon as it is read); other fields are skipped. A form
    refused after its file was stored deletes it."""
    form = await read_form(state, request, accept=checks.get)
    stored = form.upload
    try:
        if stored is None:
            raise InvalidRequest("The form has no 'file' field.", code="missing_required_parameter", param="file")
        fields = dict(form.fields)
        for name in required:
            if name not in fields:
                raise InvalidRequest(f"The form has no '{name}' field.", code="missing_required_parameter", param=name)
    except BaseException:
        if stored is not None:
            await discard(state, stored)
        raise
    stored.fields = fields
    return stored


async def _store(state: AppState, file_id: str, reader: MultipartReader, field: str) -> Artifact:
    try:
        return await state.store.write(
            file_id,
            UPLOAD_ARTIFACT,
            reader.data(),
            expires_at=time.time() + FILE_TTL_S,
            max_bytes=state.settings.max_upload_bytes,
        )
    except ArtifactError as exc:
        raise artifact_error(exc, param=field) from None


async def discard(state: AppState, upload: Upload) -> None:
    """Delete a stored upload that will not be recorded (best effort: it expires anyway)."""
    with contextlib.suppress(ArtifactError):  # if it stays, the sweep removes it once it expires
        await state.store.delete(upload.file_id, UPLOAD_ARTIFACT)


async def record_upload(state: AppState, owner: str, upload: Upload, purpose: str) -> FileRecord:
    """Make a stored upload a file of `owner`'s."""
    now = time.time()
    record = FileRecord(
        id=upload.file_id,
        owner=owner,
        filename=upload.filename,
        bytes=upload.artifact.bytes,
        content_type=upload.artifact.content_type,
        purpose=purpose,
        created_at=now,
        expires_at=upload.artifact.expires_at,
    )
    try:
        await save_file(state.redis, record, now=now)
    except BaseException:
        await discard(state, upload)
        raise
    return record


async def create_file(state: AppState, owner: str, request: Request) -> FileRecord:
    upload = await read_upload(state, request, checks={"purpose": _check_purpose}, required=("purpose",))
    return await record_upload(state, owner, upload, upload.fields["purpose"])


async def owned_file(state: AppState, owner: str, file_id: str, *, param: str = "file_id") -> FileRecord:
    """The file if it exists and belongs to `owner`; 404 otherwise (never 403: no existence leak)."""
    record = await get_file(state.redis, file_id) if file_id.startswith("file_") and len(file_id) <= 64 else None
    if record is None or record.owner != owner or record.expires_at <= time.time():
        raise NotFound(f"No file with id '{file_id[:64]}'.", code="file_not_found", param=param)
    return record


async def remove_file(state: AppState, owner: str, file_id: str) -> FileRecord:
    record = await owned_file(state, owner, file_id)
    try:
        await state.store.delete(file_id, UPLOAD_ARTIFACT)
    except ArtifactError as exc:
        raise artifact_error(exc) from None
    await delete_file(state.redis, file_id)
    return record


def file_object(record: FileRecord) -> dict[str, object]:
    """OpenAI's file object."""
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": int(record.created_at),
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed",
        "expires_at": int(record.expires_at),
        "status_details": None,
    }
