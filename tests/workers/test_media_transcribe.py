"""transcribe end to end: audio from an upload or a URL → media worker → LiteLLM
/v1/audio/transcriptions (multipart) → emulator, which reads the words back from speech it
made itself (the text is in the audio's tags), so TTS → STT round trips are checkable."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tests.support.media_stack import MediaStack
from tests.support.servers import running_server

OPENAI_TTS = "openai/gpt-4o-mini-tts"
WHISPER = "openai/whisper-1"
WORDS = "Seven silver swans swim south at sunrise."


def _speech(media: MediaStack, fmt: str = "mp3") -> bytes:
    job = media.run("tts", {"text": WORDS, "format": fmt}, model=OPENAI_TTS)
    assert job["status"] == "succeeded", job["error"]
    return media.read_artifact(job["id"], f"speech.{fmt}")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.fixture
def audio_server(media: MediaStack) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A plain HTTP server the worker fetches `audio_url`s from: /a/<name>, /redirect."""
    served: dict[str, bytes] = {}

    async def audio(request: Request) -> Response:
        content = served.get(request.path_params["name"])
        if content is None:
            return Response(status_code=404)
        return Response(content, media_type="application/octet-stream")

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/a/speech")

    app = Starlette(routes=[Route("/a/{name}", audio), Route("/redirect", redirect)])
    with running_server(app) as base:
        yield base, served


@pytest.mark.parametrize("response_format", ["json", "verbose_json", "text"])
def test_an_upload_transcribes_to_its_words(media: MediaStack, response_format: str) -> None:
    file_id = media.upload(_speech(media))

    job = media.run("transcribe", {"file_id": file_id, "response_format": response_format}, model=WHISPER)

    assert job["status"] == "succeeded", job["error"]
    out = job["output"]
    assert (out["model"], out["response_format"]) == (WHISPER, response_format)
    assert _words(out["text"]) == _words(WORDS)
    if response_format == "text":
        assert _words(out["content"]) == _words(WORDS)
    else:
        assert "content" not in out


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_subtitles_have_cues_with_the_words(media: MediaStack, response_format: str) -> None:
    file_id = media.upload(_speech(media, "wav"))

    job = media.run("transcribe", {"file_id": file_id, "response_format": response_format}, model=WHISPER)

    assert job["status"] == "succeeded", job["error"]
    content = job["output"]["content"]
    separator = "," if response_format == "srt" else "."
    assert re.search(rf"\d\d:\d\d:\d\d{separator}\d{{3}} --> \d\d:\d\d:\d\d{separator}\d{{3}}", content)
    assert content.startswith("WEBVTT") == (response_format == "vtt")
    assert _words(job["output"]["text"]) == _words(WORDS)


def test_audio_from_a_url(media: MediaStack, audio_server: tuple[str, dict[str, bytes]]) -> None:
    base, served = audio_server
    served["speech"] = _speech(media)

    job = media.run("transcribe", {"audio_url": f"{base}/a/speech"}, model=WHISPER)

    assert job["status"] == "succeeded", job["error"]
    assert _words(job["output"]["text"]) == _words(WORDS)


@pytest.mark.parametrize(
    ("path", "content", "says"),
    [
        ("/redirect", b"", "redirect"),
        ("/a/text", b"<html>not audio at all</html>" * 10, "not audio"),
        ("/a/missing", None, "404"),
    ],
)
def test_audio_urls_that_cannot_be_used(
    media: MediaStack, audio_server: tuple[str, dict[str, bytes]], path: str, content: bytes | None, says: str
) -> None:
    base, served = audio_server
    served["speech"] = b"RIFF"
    if content is not None:
        served[path.rsplit("/", 1)[-1]] = content

    job = media.run("transcribe", {"audio_url": f"{base}{path}"}, model=WHISPER)

    assert job["status"] == "failed", job
    error = job["error"]
    assert (error["status"], error["code"], error["param"]) == (400, "audio_fetch_failed", "input.audio_url")
    assert says in error["message"]


def test_an_upload_gone_by_the_time_the_worker_runs(media: MediaStack) -> None:
    file_id = media.upload(_speech(media))
    media.delete_artifact(file_id, "content")  # expired between submission and the run

    job = media.run("transcribe", {"file_id": file_id}, model=WHISPER)

    assert job["status"] == "failed", job
    assert (job["error"]["status"], job["error"]["code"], job["error"]["param"]) == (
        404,
        "file_not_found",
        "input.file_id",
    )
