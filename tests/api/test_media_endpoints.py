"""The OpenAI media endpoints at the gateway: validation (every bad field a 4xx naming it,
nothing written), `Prefer: respond-async`, the job each submits, a client that leaves, and the
answers built from what a worker writes.

No worker runs here: where a test needs a job to end, it writes the job's events and final
state through `queues.store`, exactly as the worker's job runner does (the end-to-end path with
real workers, LiteLLM and the emulator is tests/chat/test_media_sdk.py).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis
import redis.asyncio as aioredis

from artifacts import StoreConfig, open_store
from queues import keys, store
from queues.jobs import JobError
from queues.retention import DEFAULT_RETENTION
from queues.settings import Settings
from tests.support.artifacts import WAV, sample, stream
from tests.support.auth import AUTH
from tests.support.envelopes import assert_envelope
from tests.support.waiting import wait_until


def all_keys(settings: Settings) -> list[bytes]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return list(client.keys("*"))
    finally:
        client.close()


def job_hash(settings: Settings, job_id: str) -> dict[str, Any]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.hgetall(keys.job(job_id))
    finally:
        client.close()
    return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]


BAD_JSON_BODIES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("/api/embeddings", {"model": "auto"}, 422, "input"),
    ("/api/embeddings", {"input": []}, 422, "input"),
    ("/api/embeddings", {"input": ["a", 1]}, 422, "input[1]"),
    ("/api/embeddings", {"input": "a", "dimensions": 0}, 422, "dimensions"),
    ("/api/embeddings", {"input": "a", "encoding_format": "hex"}, 422, "encoding_format"),
    ("/api/embeddings", {"input": "a", "model": "no-such-model"}, 404, "model"),
    ("/api/embeddings", {"input": "a", "model": "gpt-4o"}, 400, "model"),
    ("/api/embeddings", {"input": "a", "task": "tts"}, 400, "task"),
    ("/api/embeddings", {"input": "a", "tier": "premium"}, 422, "tier"),
    ("/api/images/generations", {"n": 1}, 422, "prompt"),
    ("/api/images/generations", {"prompt": "a cat", "n": 9}, 422, "n"),
    ("/api/images/generations", {"prompt": "a cat", "size": "huge"}, 422, "size"),
    ("/api/images/generations", {"prompt": "a cat", "quality": "ultra"}, 422, "quality"),
    ("/api/images/generations", {"prompt": "a cat", "output_format": "bmp"}, 422, "output_format"),
    ("/api/images/generations", {"prompt": "a cat", "response_format": "png"}, 400, "response_format"),
    ("/api/audio/speech", {"voice": "alloy"}, 422, "input"),
    ("/api/audio/speech", {"input": "   "}, 422, "input"),
    ("/api/audio/speech", {"input": "hi", "voice": ""}, 422, "voice"),
    ("/api/audio/speech", {"input": "hi", "response_format": "ogg"}, 422, "response_format"),
    ("/api/audio/speech", {"input": "hi", "speed": 9}, 422, "speed"),
    ("/api/audio/speech", {"input": "hi", "stream_format": "sse"}, 400, "stream_format"),
    ("/api/audio/speech", {"input": "hi", "model": "whisper-1"}, 400, "model"),
]


@pytest.mark.parametrize(("path", "body", "status", "param"), BAD_JSON_BODIES)
def test_bad_field_is_named_and_nothing_is_written(
    media_client: httpx.Client, media_settings: Settings, path: str, body: dict[str, Any], status: int, param: str
) -> None:
    error = assert_envelope(media_client.post(path, json=body), status)
    assert error["param"] == param, error
    assert all_keys(media_settings) == []


@pytest.mark.parametrize("path", ["/api/embeddings", "/api/images/generations", "/api/audio/speech"])
def test_not_a_json_object_is_refused(media_client: httpx.Client, path: str) -> None:
    assert_envelope(media_client.post(path, content=b"{not json"), 400, "invalid_json")
    assert_envelope(media_client.post(path, json=["a"]), 422)
    assert_envelope(httpx.post(media_client.base_url.join(path), json={"input": "a"}), 401)


BAD_FORMS: list[tuple[dict[str, str], int, str]] = [
    ({"response_format": "xml"}, 422, "response_format"),
    ({"language": "english!"}, 422, "language"),
    ({"temperature": "hot"}, 400, "temperature"),
    ({"temperature": "2"}, 422, "temperature"),
    ({"model": "gpt-4o"}, 400, "model"),
    ({"tier": "premium"}, 422, "tier"),
    ({"providers": "{not json"}, 400, "providers"),
]


@pytest.mark.parametrize(("fields", "status", "param"), BAD_FORMS)
def test_bad_transcription_field_is_named_and_nothing_is_kept(
    media_client: httpx.Client, media_settings: Settings, fields: dict[str, str], status: int, param: str
) -> None:
    response = media_client.post("/api/audio/transcriptions", data=fields, files={"file": ("a.wav", WAV)})
    assert assert_envelope(response, status)["param"] == param
    assert all_keys(media_settings) == []
    root = Path(media_settings.artifacts_url.removeprefix("file://"))
    assert not any(p.is_file() for p in root.rglob("*"))


def test_transcription_without_audio(media_client: httpx.Client, media_settings: Settings) -> None:
    assert assert_envelope(media_client.post("/api/audio/transcriptions", data={"model": "auto"}), 400)["param"] in (
        "file",
        "Content-Type",
    )
    no_file = media_client.post("/api/audio/transcriptions", data={"a": "b"}, files={"other": ("x.wav", WAV)})
    assert assert_envelope(no_file, 400)["param"] == "file"
    not_audio = media_client.post("/api/audio/transcriptions", files={"file": ("a.wav", b"just some text, not audio")})
    assert assert_envelope(not_audio, 415)["param"] == "file"
    assert all_keys(media_settings) == []


@pytest.mark.parametrize(
    ("path", "body", "task", "queue"),
    [
        ("/api/embeddings", {"input": ["one", "two"], "model": "auto", "dimensions": 256}, "embed_text", "interactive"),
        ("/api/images/generations", {"prompt": "a cat", "size": "512x512"}, "image_generate", "media"),
        ("/api/audio/speech", {"input": "Hello there.", "voice": "nova", "response_format": "wav"}, "tts", "media"),
    ],
)
def test_respond_async_answers_the_job_at_once(
    media_client: httpx.Client, media_settings: Settings, path: str, body: dict[str, Any], task: str, queue: str
) -> None:
    response = media_client.post(path, json=body, headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["object"] == "job" and job["task"] == task and job["queue"] == queue and job["status"] == "queued"
    assert response.headers["location"] == f"/api/jobs/{job['id']}"
    assert response.headers["preference-applied"] == "respond-async"
    assert response.headers["x-mpc-job-id"] == job["id"] and response.headers["x-mpc-task"] == task
    params = msgspec.json.decode(job_hash(media_settings, job["id"])["params"])
    assert params["chain"][0]["id"] == response.headers["x-mpc-model"]
    assert params.get("stream_audio") is (True if task == "tts" else None)
    stored_input = msgspec.json.decode(job_hash(media_settings, job["id"])["input"])
    if task == "tts":  # the body's names mapped onto the task's input
        assert stored_input["text"] == "Hello there." and stored_input["format"] == "wav"
    assert media_client.get(f"/api/jobs/{job['id']}").json()["status"] == "queued"


def test_pinned_model_and_steering_reach_the_chain(media_client: httpx.Client, media_settings: Settings) -> None:
    response = media_client.post(
        "/api/embeddings",
        json={"input": "x", "model": "auto", "providers": {"deny": ["openai"]}, "fallbacks": 2},
        headers={"Prefer": "respond-async"},
    )
    chain = msgspec.json.decode(job_hash(media_settings, response.json()["id"])["params"])["chain"]
    assert chain and all(link["provider"] != "openai" for link in chain) and len(chain) <= 3


def test_client_that_leaves_cancels_its_job(media_gateway: str, media_settings: Settings) -> None:
    with httpx.Client(base_url=media_gateway, headers=AUTH, timeout=1.0) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/api/images/generations", json={"prompt": "a slow cat"})
    prefix = keys.JOB.encode()
    [job_id] = {
        k.removeprefix(prefix).split(b":")[0].decode() for k in all_keys(media_settings) if k.startswith(prefix)
    }
    assert wait_until(lambda: job_hash(media_settings, job_id).get("status") == "canceled", timeout=5)


# --- answers built from what a worker writes -------------------------------------------


class WorkerSide:
    """Plays the worker's part for a job the gateway is waiting on, through queues.store."""

    def __init__(self, settings: Settings) -> None:
        self.redis_url = settings.redis_url

    def next_job(self, queue_class: str) -> str:
        found: list[str] = []

        def queued() -> bool:
            client = redis.Redis.from_url(self.redis_url)
            try:
                found[:] = [m.decode() for m in client.zrange(keys.QUEUE_NAMES[queue_class], 0, -1)]
            finally:
                client.close()
            return bool(found)

        assert wait_until(queued, timeout=5)
        return found[0]

    def run(self, step: Callable[[aioredis.Redis], Any]) -> None:
        async def go() -> None:
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                await step(client)
            finally:
                await client.aclose()

        asyncio.run(go())


@pytest.fixture
def worker_side(media_settings: Settings) -> WorkerSide:
    return WorkerSide(media_settings)


@pytest.fixture
def in_background() -> Iterator[Callable[[Callable[[], Any]], list[Any]]]:
    threads: list[threading.Thread] = []

    def start(call: Callable[[], Any]) -> list[Any]:
        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
        thread.start()
        threads.append(thread)
        return result

    yield start
    for thread in threads:
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (
            JobError(message="Unknown voice 'x'.", type="invalid_request_error", code="upstream_rejected", status=400),
            400,
            None,
        ),
        (JobError(message="Rate limited.", code="rate_limited", status=429, retry_after=3), 429, "3"),
        (JobError(message="Timed out.", code="upstream_timeout", status=504), 504, None),
        (JobError(message="Store down.", code="artifact_store_unavailable", status=503, retryable=True), 503, None),
        (JobError(message="Bad gateway."), 502, None),
    ],
)
def test_job_failure_is_the_openai_envelope_with_its_status(
    media_client: httpx.Client,
    worker_side: WorkerSide,
    in_background: Callable[[Callable[[], Any]], list[Any]],
    error: JobError,
    status: int,
    retry_after: str | None,
) -> None:
    answer = in_background(lambda: media_client.post("/api/embeddings", json={"input": "hello"}))
    job_id = worker_side.next_job("interactive")
    worker_side.run(lambda r: store.finish(r, job_id, error=error, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    body = assert_envelope(answer[0], status, error.code)
    assert body["message"] == error.message
    assert answer[0].headers.get("retry-after") == retry_after
    assert answer[0].headers["x-mpc-job-id"] == job_id and answer[0].headers["x-mpc-task"] == "embed_text"


def test_embeddings_answer_is_the_jobs_output(
    media_client: httpx.Client, worker_side: WorkerSide, in_background: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    answer = in_background(lambda: media_client.post("/api/embeddings", json={"input": "hello", "model": "auto"}))
    job_id = worker_side.next_job("interactive")
    output = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
        "model": "openai/text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    worker_side.run(lambda r: store.finish(r, job_id, output=output, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    assert answer[0].status_code == 200 and answer[0].json() == output
    assert answer[0].headers["x-mpc-model"] == "openai/text-embedding-3-small"
    assert answer[0].headers["x-mpc-job-id"] == job_id and answer[0].headers["x-mpc-task"] == "embed_text"


def test_speech_deltas_are_sent_as_they_come(
    media_gateway: str, worker_side: WorkerSide, in_background: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    received: list[bytes] = []
    headers: dict[str, str] = {}

    def listen() -> None:
        with (
            httpx.Client(base_url=media_gateway, headers=AUTH, timeout=10) as client,
            client.stream("POST", "/api/audio/speech", json={"input": "Hello.", "response_format": "wav"}) as response,
        ):
            headers.update(response.headers)
            for chunk in response.iter_raw():
                received.append(chunk)

    in_background(listen)
    job_id = worker_side.next_job("media")
    first, second = WAV[:400], WAV[400:]

    def delta(audio: bytes) -> dict[str, Any]:
        return {
            "type": "speech.audio.delta",
            "audio": base64.b64encode(audio).decode(),
            "model": "openai/gpt-4o-mini-tts",
        }

    worker_side.run(lambda r: store.append_outputs(r, job_id, [delta(first)]))
    # The first bytes reach the client before the job has finished.
    assert wait_until(lambda: b"".join(received) == first, timeout=5)
    assert headers["content-type"] == "audio/wav" and headers["x-mpc-job-id"] == job_id
    assert headers["x-mpc-model"] == "openai/gpt-4o-mini-tts"
    worker_side.run(lambda r: store.append_outputs(r, job_id, [delta(second)]))
    worker_side.run(
        lambda r: store.finish(
            r, job_id, output={"model": "openai/gpt-4o-mini-tts", "artifacts": []}, retention=DEFAULT_RETENTION
        )
    )
    assert wait_until(lambda: b"".join(received) == WAV, timeout=5)


def test_speech_failing_after_its_first_bytes_cuts_the_connection(
    media_gateway: str, worker_side: WorkerSide, in_background: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    outcome: list[Any] = []

    def listen() -> None:
        with httpx.Client(base_url=media_gateway, headers=AUTH, timeout=10) as client:
            try:
                with client.stream("POST", "/api/audio/speech", json={"input": "Hello."}) as response:
                    outcome.append(response.status_code)
                    for _ in response.iter_raw():
                        pass
                outcome.append("complete")
            except httpx.RemoteProtocolError:
                outcome.append("cut")

    in_background(listen)
    job_id = worker_side.next_job("media")
    chunk = {"type": "speech.audio.delta", "audio": base64.b64encode(b"ID3" + bytes(64)).decode()}
    worker_side.run(lambda r: store.append_outputs(r, job_id, [chunk]))
    worker_side.run(
        lambda r: store.finish(
            r, job_id, error=JobError(message="boom", code="upstream_error"), retention=DEFAULT_RETENTION
        )
    )
    assert wait_until(lambda: len(outcome) == 2, timeout=5)
    assert outcome == [200, "cut"]


def test_speech_failing_before_any_byte_is_an_error_envelope(
    media_client: httpx.Client, worker_side: WorkerSide, in_background: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    answer = in_background(lambda: media_client.post("/api/audio/speech", json={"input": "Hello."}))
    job_id = worker_side.next_job("media")
    rejected = JobError(message="Unknown voice.", type="invalid_request_error", code="upstream_rejected", status=400)
    worker_side.run(lambda r: store.finish(r, job_id, error=rejected, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    assert_envelope(answer[0], 400, "upstream_rejected")
    assert answer[0].headers["x-mpc-job-id"] == job_id


# --- answers with artifacts: the worker's output read back through the real store -------


def write_artifact(settings: Settings, job_id: str, name: str, content: bytes) -> dict[str, Any]:
    """Store `content` as the job's artifact, as a media handler does; its description."""

    async def go() -> dict[str, Any]:
        artifact_store = await open_store(
            StoreConfig(**settings.artifact_store_options()), signing_key=settings.artifact_signing_key()
        )
        try:
            artifact = await artifact_store.write(job_id, name, stream(content), expires_at=time.time() + 600)
        finally:
            await artifact_store.aclose()
        described: dict[str, Any] = msgspec.to_builtins(artifact)
        return described

    return asyncio.run(go())


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_images_answer_from_the_artifacts(
    media_client: httpx.Client,
    media_settings: Settings,
    worker_side: WorkerSide,
    in_background: Callable[[Callable[[], Any]], list[Any]],
    response_format: str,
) -> None:
    png = sample("image.png")
    body = {"prompt": "a cat", "n": 2, "response_format": response_format}
    answer = in_background(lambda: media_client.post("/api/images/generations", json=body))
    job_id = worker_side.next_job("media")
    listed = [write_artifact(media_settings, job_id, f"image-{i}.png", png) for i in (1, 2)]
    output = {
        "model": "openai/gpt-image-1",
        "created": 1700000000,
        "artifacts": listed,
        "revised_prompts": ["a fine cat", None],
    }
    worker_side.run(lambda r: store.finish(r, job_id, output=output, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    result = answer[0].json()
    assert answer[0].status_code == 200 and result["created"] == 1700000000 and len(result["data"]) == 2
    assert result["data"][0]["revised_prompt"] == "a fine cat" and "revised_prompt" not in result["data"][1]
    for item in result["data"]:
        if response_format == "b64_json":
            assert base64.b64decode(item["b64_json"]) == png
        else:
            assert item["url"].startswith(str(media_client.base_url))
            assert httpx.get(item["url"]).content == png  # no API key needed
    assert answer[0].headers["x-mpc-model"] == "openai/gpt-image-1"


def test_speech_without_deltas_streams_the_finished_artifact(
    media_client: httpx.Client,
    media_settings: Settings,
    worker_side: WorkerSide,
    in_background: Callable[[Callable[[], Any]], list[Any]],
) -> None:
    body = {"input": "A long script.", "response_format": "wav"}
    answer = in_background(lambda: media_client.post("/api/audio/speech", json=body))
    job_id = worker_side.next_job("media")
    listed = [write_artifact(media_settings, job_id, "speech.wav", WAV)]
    output = {"model": "openai/gpt-4o-mini-tts", "artifacts": listed, "pieces": 3}
    worker_side.run(lambda r: store.finish(r, job_id, output=output, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    assert answer[0].status_code == 200 and answer[0].content == WAV
    assert answer[0].headers["content-type"] == "audio/wav"
    assert answer[0].headers["content-length"] == str(len(WAV))
    assert answer[0].headers["x-mpc-job-id"] == job_id


TRANSCRIPT = {
    "model": "openai/whisper-1",
    "text": "Hello there.",
    "language": "en",
    "duration": 1.5,
    "segments": [{"id": 0, "start": 0.0, "end": 1.5, "text": "Hello there."}],
    "words": None,
}


@pytest.mark.parametrize(
    ("response_format", "content", "expected"),
    [
        ("json", None, {"text": "Hello there."}),
        ("text", "Hello there.\n", "Hello there.\n"),
        ("srt", "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n", "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n"),
        (
            "vtt",
            "WEBVTT\n\n00:00.000 --> 00:01.500\nHello there.\n",
            "WEBVTT\n\n00:00.000 --> 00:01.500\nHello there.\n",
        ),
        (
            "verbose_json",
            None,
            {
                "task": "transcribe",
                "language": "en",
                "duration": 1.5,
                "text": "Hello there.",
                "segments": TRANSCRIPT["segments"],
            },
        ),
    ],
)
def test_transcription_answers_per_format(
    media_client: httpx.Client,
    media_settings: Settings,
    worker_side: WorkerSide,
    in_background: Callable[[Callable[[], Any]], list[Any]],
    response_format: str,
    content: str | None,
    expected: Any,
) -> None:
    form = {"model": "auto", "response_format": response_format, "language": "en"}
    answer = in_background(
        lambda: media_client.post("/api/audio/transcriptions", data=form, files={"file": ("a.wav", WAV)})
    )
    job_id = worker_side.next_job("media")
    job_input = msgspec.json.decode(job_hash(media_settings, job_id)["input"])
    assert job_input["response_format"] == response_format and job_input["language"] == "en"
    file_id = job_input["file_id"]
    assert media_client.get(f"/api/files/{file_id}").json()["bytes"] == len(WAV)  # the upload is a file of the caller's
    output = {**TRANSCRIPT, "response_format": response_format, **({"content": content} if content else {})}
    worker_side.run(lambda r: store.finish(r, job_id, output=output, retention=DEFAULT_RETENTION))
    assert wait_until(lambda: bool(answer), timeout=5)
    assert answer[0].status_code == 200, answer[0].text
    if isinstance(expected, str):
        assert answer[0].headers["content-type"].startswith("text/plain") and answer[0].text == expected
    else:
        assert answer[0].json() == expected


def test_speech_client_leaving_mid_stream_cancels_the_job(
    media_gateway: str,
    media_settings: Settings,
    worker_side: WorkerSide,
    in_background: Callable[[Callable[[], Any]], list[Any]],
) -> None:
    got_bytes = threading.Event()

    def listen_then_leave() -> None:
        with (
            httpx.Client(base_url=media_gateway, headers=AUTH, timeout=10) as client,
            client.stream("POST", "/api/audio/speech", json={"input": "Hello."}) as response,
        ):
            for _ in response.iter_raw():
                got_bytes.set()
                return  # leaves with the body unread: the connection is closed

    in_background(listen_then_leave)
    job_id = worker_side.next_job("media")
    chunk = {"type": "speech.audio.delta", "audio": base64.b64encode(b"ID3" + bytes(64)).decode()}
    worker_side.run(lambda r: store.append_outputs(r, job_id, [chunk]))
    assert got_bytes.wait(5)
    assert wait_until(lambda: job_hash(media_settings, job_id).get("status") == "canceled", timeout=5)
