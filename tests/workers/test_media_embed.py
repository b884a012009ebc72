"""embed_text end to end: gateway job → interactive worker → LiteLLM /v1/embeddings → emulator."""

from __future__ import annotations

import base64
import math
import struct
import time
from pathlib import Path

import pytest

from catalog import Catalog
from queues.settings import Settings
from sandbox.emulator.client import EmulatorClient
from tests.support.litellm import LiteLLMProxy
from tests.support.media_stack import MediaStack, running_media_stack


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embeddings_of_several_inputs_in_openai_shape(media: MediaStack) -> None:
    job = media.run("embed_text", {"input": ["a cat sat on the mat", "a cat sat on a mat", "stock prices fell"]})

    assert job["status"] == "succeeded", job["error"]
    out = job["output"]
    assert out["object"] == "list"
    assert out["model"] in media.stack.catalog.models
    assert [item["index"] for item in out["data"]] == [0, 1, 2]
    vectors = [item["embedding"] for item in out["data"]]
    assert all(item["object"] == "embedding" for item in out["data"])
    assert len({len(v) for v in vectors}) == 1
    assert all(abs(_norm(v) - 1) < 1e-3 for v in vectors)
    close = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    far = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert close > far  # similar texts are near each other, through every hop
    assert out["usage"]["prompt_tokens"] > 0


def test_dimensions_and_base64_as_openai_sends_them(media: MediaStack) -> None:
    job = media.run("embed_text", {"input": "hello world", "dimensions": 64, "encoding_format": "base64"})

    assert job["status"] == "succeeded", job["error"]
    out = job["output"]
    raw = base64.b64decode(out["data"][0]["embedding"])
    vector = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(vector) == 64
    assert abs(_norm(list(vector)) - 1) < 1e-3


def _requests_to(media: MediaStack, model_id: str) -> int:
    return len(media.stack.emulator.requests(model=media.upstream_name(model_id)))


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"status": 429, "retry_after": 0}])
def test_a_failing_model_falls_back_to_the_next(media: MediaStack, fault: dict[str, int]) -> None:
    chain = media.chain("embed_text")
    media.stack.emulator.set_model(media.upstream_name(chain[0]), **fault)

    job = media.run("embed_text", {"input": "fall back please"})

    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] == chain[1]
    # LiteLLM 1.106.12 still lets the OpenAI SDK retry embeddings (3 calls on a 5xx/429):
    # openai.py's `max_retries = max_retries or DEFAULT_MAX_RETRIES` turns 0 into 2.
    assert 1 <= _requests_to(media, chain[0]) <= 3


def test_a_provider_400_fails_at_once_naming_the_problem(media: MediaStack) -> None:
    chain = media.chain("embed_text")
    media.stack.emulator.set_model(media.upstream_name(chain[0]), status=400)

    job = media.run("embed_text", {"input": "a request the provider refuses"})

    assert job["status"] == "failed", job
    error = job["error"]
    assert (error["status"], error["code"], error["type"]) == (400, "upstream_rejected", "invalid_request_error")
    assert error["message"] and "litellm." not in error["message"]
    assert _requests_to(media, chain[1]) == 0  # no fallback on a client error


def test_a_model_slower_than_the_embed_timeout_falls_back(
    litellm: LiteLLMProxy, emulator: EmulatorClient, settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    env = {"MPC_EMBED_TIMEOUT_S": "1"}
    with running_media_stack(litellm, emulator, settings, catalog, tmp_path / "artifacts", worker_env=env) as media:
        chain = media.chain("embed_text")
        media.stack.emulator.set_model(media.upstream_name(chain[0]), latency_ms=5000)
        started = time.monotonic()

        job = media.run("embed_text", {"input": "too slow for one second"})

    assert job["status"] == "succeeded", job["error"]
    assert job["output"]["model"] == chain[1]
    assert time.monotonic() - started < 4  # the slow model was given up after 1 s
