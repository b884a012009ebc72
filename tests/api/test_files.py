"""`POST /api/files` and friends against a real gateway, Redis and artifact directory."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from queues import keys
from queues.files import FILE_TTL_S
from queues.settings import Settings
from tests.support.artifacts import WAV, sample
from tests.support.auth import OTHER_AUTH, TEST_API_KEY
from tests.support.envelopes import assert_envelope


def upload(
    client: httpx.Client, content: bytes = WAV, *, purpose: str | None = "user_data", name: str = "a.wav"
) -> httpx.Response:
    data = {} if purpose is None else {"purpose": purpose}
    return client.post("/api/files", data=data, files={"file": (name, content, "application/octet-stream")})


def redis_keys(settings: Settings, pattern: str = "mpc:file:*") -> list[bytes]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return list(client.scan_iter(pattern))
    finally:
        client.close()


def stored_files(settings: Settings) -> list[Path]:
    root = Path(urlsplit(settings.artifacts_url).path)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_answers_openai_file_object_and_is_recorded(
    media_client: httpx.Client, media_settings: Settings
) -> None:
    before = time.time()
    response = upload(media_client, name="dir/tone.wav")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("file_") and body["object"] == "file"
    assert body["bytes"] == len(WAV) and body["filename"] == "tone.wav" and body["purpose"] == "user_data"
    assert body["status"] == "processed"
    assert int(before) <= body["created_at"] <= time.time()
    assert body["expires_at"] - body["created_at"] in range(FILE_TTL_S - 1, FILE_TTL_S + 2)
    client = redis.Redis.from_url(media_settings.redis_url)
    try:
        ttl = int(client.ttl(keys.file(body["id"])))  # type: ignore[arg-type]
    finally:
        client.close()
    assert FILE_TTL_S - 10 < ttl <= FILE_TTL_S
    assert media_client.get(f"/api/files/{body['id']}").json() == body
    content = media_client.get(f"/api/files/{body['id']}/content")
    assert content.status_code == 200 and content.content == WAV
    assert content.headers["content-type"] == "audio/wav"
    assert content.headers["content-disposition"] == 'attachment; filename="tone.wav"'


def test_upload_from_the_openai_sdk(media_gateway: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{media_gateway}/api", api_key=TEST_API_KEY, max_retries=0)
    created = client.files.create(file=("speech.mp3", sample("tone-id3.mp3")), purpose="user_data")
    assert created.id.startswith("file_") and created.bytes == len(sample("tone-id3.mp3"))
    assert client.files.retrieve(created.id).filename == "speech.mp3"
    assert client.files.content(created.id).content == sample("tone-id3.mp3")
    assert client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_another_key_sees_404_everywhere(media_client: httpx.Client, media_gateway: str) -> None:
    file_id = upload(media_client).json()["id"]
    with httpx.Client(base_url=media_gateway, headers=OTHER_AUTH) as other:
        for response in (
            other.get(f"/api/files/{file_id}"),
            other.get(f"/api/files/{file_id}/content"),
            other.delete(f"/api/files/{file_id}"),
        ):
            assert assert_envelope(response, 404, "file_not_found")["param"] == "file_id"
    assert media_client.get(f"/api/files/{file_id}").status_code == 200  # the other key deleted nothing


def test_delete_removes_record_and_bytes(media_client: httpx.Client, media_settings: Settings) -> None:
    file_id = upload(media_client).json()["id"]
    deleted = media_client.delete(f"/api/files/{file_id}")
    assert deleted.json() == {"id": file_id, "object": "file", "deleted": True}
    assert redis_keys(media_settings) == []
    assert stored_files(media_settings) == []
    assert_envelope(media_client.get(f"/api/files/{file_id}/content"), 404, "file_not_found")


def test_unsupported_content_is_415_naming_file_and_stores_nothing(
    media_client: httpx.Client, media_settings: Settings
) -> None:
    error = assert_envelope(upload(media_client, b"<html><script>alert(1)</script></html>", name="a.wav"), 415)
    assert error["param"] == "file"
    assert redis_keys(media_settings) == [] and stored_files(media_settings) == []


@pytest.mark.parametrize(
    ("send", "param"),
    [
        ({"data": {"purpose": "training"}, "files": {"file": ("a.wav", WAV)}}, "purpose"),
        ({"data": {}, "files": {"file": ("a.wav", WAV)}}, "purpose"),
        ({"data": {"purpose": "user_data"}, "files": {"other": ("a.wav", WAV)}}, "file"),
        ({"content": b'{"purpose": "user_data"}', "headers": {"content-type": "application/json"}}, "Content-Type"),
    ],
)
def test_bad_form_names_the_field_and_writes_nothing(
    media_client: httpx.Client, media_settings: Settings, send: dict[str, object], param: str
) -> None:
    response = media_client.post("/api/files", **send)  # type: ignore[arg-type]
    assert 400 <= response.status_code < 500
    assert assert_envelope(response, response.status_code)["param"] == param
    assert redis_keys(media_settings, "*") == [] and stored_files(media_settings) == []


def test_malformed_multipart_is_400(media_client: httpx.Client) -> None:
    response = media_client.post(
        "/api/files",
        content=b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data',  # never closed
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert assert_envelope(response, 400, "invalid_multipart")


def test_declared_length_over_the_cap_is_413_before_reading(
    media_client: httpx.Client, media_settings: Settings
) -> None:
    padded = WAV + bytes(media_settings.max_upload_bytes + 2 * 1024 * 1024)
    error = assert_envelope(upload(media_client, padded), 413)
    assert error["param"] == "file"
    assert redis_keys(media_settings, "*") == [] and stored_files(media_settings) == []


def test_cap_is_enforced_while_the_body_arrives(media_gateway: str, media_settings: Settings) -> None:
    """A chunked upload (no Content-Length) sent slowly: the 413 comes once the file has
    crossed the cap, while most of the body is still unsent."""
    cap = media_settings.max_upload_bytes
    boundary = "capboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + WAV
    total_chunks, chunk = 200, bytes(1024)  # 200 KiB of file: 50 times the cap
    url = urlsplit(media_gateway)
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(
            (
                "POST /api/files HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nAuthorization: Bearer {TEST_API_KEY}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
            + f"{len(head):x}\r\n".encode()
            + head
            + b"\r\n"
        )
        conn.settimeout(0.05)
        answer, sent = b"", 0
        while sent < total_chunks:
            sent += 1
            try:
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                break  # the server answered and closed: read the answer below
            try:
                answer = conn.recv(65536)
            except TimeoutError:
                continue
            if answer:
                break
        conn.settimeout(5)
        while b"\r\n\r\n" not in answer:
            more = conn.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent * len(chunk) < cap + 16 * 1024  # refused soon after the cap, long before the end
    assert redis_keys(media_settings, "*") == [] and stored_files(media_settings) == []


def test_transcribe_job_checks_its_file(media_client: httpx.Client, media_gateway: str) -> None:
    mine = upload(media_client).json()["id"]
    missing = "file_" + "A" * 24
    with httpx.Client(base_url=media_gateway, headers=OTHER_AUTH) as other:
        for client, file_id in ((media_client, missing), (other, mine)):
            response = client.post("/api/jobs", json={"task": "transcribe", "input": {"file_id": file_id}})
            assert assert_envelope(response, 404, "file_not_found")["param"] == "input.file_id"
    accepted = media_client.post("/api/jobs", json={"task": "transcribe", "input": {"file_id": mine}})
    assert accepted.status_code == 202, accepted.text
