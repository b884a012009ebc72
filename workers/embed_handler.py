"""embed_text: OpenAI's embeddings list, down the chain through LiteLLM's /v1/embeddings.

LiteLLM is asked for floats, with `dimensions` passed on (models that take it answer at that
width; the proxy drops it for the others). A wider answer is cut to the asked width and
re-normalised (the Matryoshka way the text-embedding-3 and Gemini models are trained for);
a model whose answer is narrower cannot serve the request and is skipped, with no breaker
record. `encoding_format: base64` is done here: little-endian float32, as OpenAI sends it.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any

from catalog.inputs import EmbedInput, parse_task_input
from workers.context import JobContext
from workers.fallback import Attempt, ChainWalker, SkipModel
from workers.litellm import bad_response
from workers.media import MediaDeps

OPERATION = "embeddings"  # OTel gen_ai.operation.name


@dataclass(frozen=True, slots=True)
class EmbedHandler:
    deps: MediaDeps
    walker: ChainWalker

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        request: EmbedInput = parse_task_input(job.task, job.input)

        async def call(attempt: Attempt) -> dict[str, Any]:
            body: dict[str, Any] = {"model": attempt.target.provider_id, "input": request.input, "num_retries": 0}
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
            if request.user is not None:
                body["user"] = request.user
            answer = await self.deps.litellm.embeddings(body, timeout_s=self.deps.timeouts.embed_s)
            vectors = _vectors(answer, request.count)
            if request.dimensions is not None:
                vectors = [_fitted(v, request.dimensions) for v in vectors]
            usage = _usage(answer.get("usage"))
            await attempt.succeeded(usage=usage)
            data = [
                {"object": "embedding", "index": i, "embedding": _encoded(v, request.encoding_format)}
                for i, v in enumerate(vectors)
            ]
            return {"object": "list", "data": data, "model": attempt.target.id, "usage": usage}

        return await self.walker.walk(job, call)


def _vectors(answer: dict[str, Any], expected: int) -> list[list[float]]:
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != expected:
        raise bad_response(
            f"The model answered {len(data) if isinstance(data, list) else 'no'} embeddings for {expected} inputs."
        )
    ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors = []
    for item in ordered:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, str):  # a provider that answers base64 whatever was asked
            raw = base64.b64decode(vector)
            vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if not isinstance(vector, list) or not vector or not all(isinstance(x, int | float) for x in vector):
            raise bad_response("The model answered a malformed embedding.")
        vectors.append([float(x) for x in vector])
    return vectors


def _fitted(vector: list[float], dimensions: int) -> list[float]:
    if len(vector) < dimensions:
        raise SkipModel(
            f"its embeddings have {len(vector)} dimensions, fewer than the {dimensions} asked", param="input.dimensions"
        )
    if len(vector) == dimensions:
        return vector
    cut = vector[:dimensions]
    norm = math.sqrt(sum(x * x for x in cut))
    return [x / norm for x in cut] if norm > 0 else cut


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def _usage(usage: Any) -> dict[str, int]:
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    prompt = prompt if isinstance(prompt, int) else 0
    return {"prompt_tokens": prompt, "total_tokens": total if isinstance(total, int) else prompt}
