"""HTTP pieces the media wires share: multipart uploads, audio bodies, URLs of kept media.

Audio is sent as a chunked body of ``AUDIO_CHUNK`` byte frames, so the faults and pacing of
streamed chat apply to it: ``tps`` is chunks per second (a slow body a test can kill a
worker in the middle of), ``cut_after``/``truncate_after``/``stall_after`` count chunks.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass

from sandbox.emulator.behaviour import Behaviour
from sandbox.emulator.calls import Call
from sandbox.emulator.transport import EmulatedResponse, Frame

AUDIO_CHUNK = 8192


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Form:
    fields: dict[str, list[str]]
    files: dict[str, Upload]

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    def describe(self) -> dict[str, object]:
        """For the request log: the fields, and each file by name, type and size."""
        out: dict[str, object] = {k: v[-1] if len(v) == 1 else v for k, v in self.fields.items()}
        for name, upload in self.files.items():
            out[name] = {"filename": upload.filename, "content_type": upload.content_type, "bytes": len(upload.data)}
        return out


def parse_multipart(body: bytes, content_type: str) -> Form | None:
    """A ``multipart/form-data`` body (stdlib parser: the project does not ship
    python-multipart), or None when it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, part.get_content_type(), data)
        else:
            fields.setdefault(name, []).append(data.decode(errors="replace"))
    return Form(fields, files)


def read_form(call: Call, raw: bytes) -> Form | None:
    """Parse the call's multipart body and show it in the request log."""
    form = parse_multipart(raw, call.request.headers.get("content-type", ""))
    if form is not None:
        call.entry.body = form.describe()
        if call.entry.model is None and form.get("model"):
            call.entry.model = form.get("model")
        if call.entry.model is None and form.get("model_id"):
            call.entry.model = form.get("model_id")
    return form


def audio_response(call: Call, behaviour: Behaviour, data: bytes, content_type: str) -> EmulatedResponse:
    frames = [Frame(data[i : i + AUDIO_CHUNK]) for i in range(0, len(data), AUDIO_CHUNK)] or [Frame(b"")]
    response = EmulatedResponse(behaviour=behaviour, headers=call.headers(), frames=frames, media_type=content_type)
    return call.finish(response, stream=True)


def media_url(call: Call, data: bytes, content_type: str, extension: str) -> str:
    """An absolute URL under which the emulator serves ``data`` (``GET /media/{name}``)."""
    name = call.state.keep_media(data, content_type, extension)
    return f"{str(call.request.base_url).rstrip('/')}/media/{name}"
