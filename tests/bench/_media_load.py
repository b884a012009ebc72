"""Media requests for the benchmarks: the same call sent to the gateway's OpenAI endpoints and
straight to LiteLLM.

The direct body is the one an MPC-API media worker sends LiteLLM for the same request
(`workers/embed_handler.py`, `speech_handler.py`, `image_handler.py`: `model` = the catalog
provider_id, `num_retries: 0`, images as `b64_json`), so the two paths differ only by MPC-API.
The models are pinned to OpenAI's (the emulator's OpenAI wire answers them):
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tests.bench._chat_load import JSON
from tests.bench._common import AUTH
from tests.bench._rawhttp import request_bytes
from tests.support.litellm import LiteLLMProxy

EMBED_MODEL = "openai/text-embedding-3-small"
SPEECH_MODEL = "openai/gpt-4o-mini-tts"
IMAGE_MODEL = "openai/gpt-image-2"
VOICE = "alloy"
IMAGE_SIZE = "1024x1024"
RESPOND_ASYNC = {"Prefer": "respond-async"}


def embed_body(texts: list[str]) -> dict[str, Any]:
    return {"model": EMBED_MODEL, "input": texts}


def speech_body(text: str, fmt: str = "mp3") -> dict[str, Any]:
    return {"model": SPEECH_MODEL, "input": text, "voice": VOICE, "response_format": fmt}


def image_body(prompt: str) -> dict[str, Any]:
    return {"model": IMAGE_MODEL, "prompt": prompt, "n": 1, "size": IMAGE_SIZE}


PATHS = {"embeddings": "embeddings", "speech": "audio/speech", "images": "images/generations"}


def gateway_request(kind: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> bytes:
    """`POST /api/{embeddings|audio/speech|images/generations}` with the bench key."""
    return request_bytes("POST", f"/api/{PATHS[kind]}", {**AUTH, **JSON, **(headers or {})}, msgspec.json.encode(body))


def litellm_request(proxy: LiteLLMProxy, kind: str, body: Mapping[str, Any]) -> bytes:
    """The same call as a media worker makes it to LiteLLM (`/v1/...`)."""
    direct = {**body, "num_retries": 0}
    if kind == "images":
        direct["response_format"] = "b64_json"
    return request_bytes("POST", f"/v1/{PATHS[kind]}", {**proxy.auth, **JSON}, msgspec.json.encode(direct))
