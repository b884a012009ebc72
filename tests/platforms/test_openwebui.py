"""OpenWebUI (docs/integrations/openwebui.md) by the requests its backend sends: the model
list of an "OpenAI API" connection (`GET {url}/models`, every `data[].id` shown as a chat
model), a streamed chat read line by line as its frontend does, and its Audio (TTS, STT)
and Images settings pointed at the media endpoints with task models."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "OpenWebUI"
GUIDE = "docs/integrations/openwebui.md"
COVERS = {
    "chat": "test_connection_lists_chat_ids_and_streams",
    "stream": "test_connection_lists_chat_ids_and_streams",
    "tts": "test_audio_and_image_settings",
    "stt": "test_audio_and_image_settings",
    "images": "test_audio_and_image_settings",
}

HEADERS = {"Authorization": f"Bearer {TEST_API_KEY}"}
SPOKEN = "The quick brown fox jumps over the lazy dog."


def test_connection_lists_chat_ids_and_streams(stack: Stack) -> None:
    """The connection URL is the chat picker's base, `…/chat/v1`: its model list holds only
    what a chat can use, `auto` and the tasks first."""
    base = f"{stack.base_url}/chat/v1"
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        models = http.get(f"{base}/models").json().get("data", [])
        ids = [m["id"] for m in models]
        assert ids[0] == "auto" and "mpc/summarize" in ids and "mpc/code_generate:flagship" in ids
        assert not {"mpc/tts", "mpc/embed_text", "openai/text-embedding-3-small"} & set(ids)
        assert all(m["modality"] == "text" for m in models)
        body = {
            "model": "mpc/summarize:draft",
            "stream": True,
            "messages": [{"role": "user", "content": "Summarize: OpenWebUI reads lines"}],
        }
        text, done = "", False
        with http.stream("POST", f"{base}/chat/completions", json=body) as response:
            assert response.status_code == 200 and response.headers["x-mpc-task"] == "summarize"
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line.removeprefix("data: ")
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                assert "error" not in chunk, chunk
                for choice in chunk.get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
        assert done and "OpenWebUI reads lines" in text


def test_audio_and_image_settings(stack: Stack) -> None:
    """Admin → Audio: TTS engine "OpenAI" (base `…/api`, model `mpc/tts`, voice `alloy`), STT
    engine "OpenAI" (model `mpc/transcribe`); Admin → Images: engine "Open AI" (model
    `mpc/image_generate`, size 1024x1024)."""
    base = f"{stack.base_url}/api"
    with httpx.Client(headers=HEADERS, timeout=60) as http:
        speech = http.post(f"{base}/audio/speech", json={"model": "mpc/tts", "input": SPOKEN, "voice": "alloy"})
        assert speech.status_code == 200 and speech.headers["content-type"] == "audio/mpeg"
        assert speech.headers["x-mpc-task"] == "tts" and len(speech.content) > 1000
        heard = http.post(
            f"{base}/audio/transcriptions",
            files={"file": ("speech.mp3", speech.content, "audio/mpeg")},
            data={"model": "mpc/transcribe", "language": "en"},
        )
        assert heard.status_code == 200 and "quick brown fox" in heard.json()["text"].lower()
        drawn = http.post(
            f"{base}/images/generations",
            json={
                "model": "mpc/image_generate",
                "prompt": "a lighthouse",
                "n": 1,
                "size": "1024x1024",  # OpenWebUI's default 512x512 is refused by some strong-tier models
                "response_format": "b64_json",
            },
        )
        assert drawn.status_code == 200, drawn.text
        image = base64.b64decode(drawn.json()["data"][0]["b64_json"])
        assert image.startswith(b"\x89PNG")
