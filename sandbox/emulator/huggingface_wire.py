"""Hugging Face Inference embeddings under ``/huggingface/hf-inference/pipeline/{task}/{model}``
(the form of ``https://router.huggingface.co/hf-inference/pipeline/...``; LiteLLM posts
exactly to the deployment's ``api_base`` there).

Body ``{"inputs": str | [str] | {"source_sentence", "sentences"}}``. ``feature-extraction``
answers one vector per input (a bare vector for a string); ``sentence-similarity`` answers
the cosine similarity of each sentence to the source sentence. Errors are ``{"error": msg}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.emulator.calls import bearer_token, begin
from sandbox.emulator.reply import embedding
from sandbox.emulator.transport import EmulatedResponse, dump

PREFIX = "/huggingface/hf-inference/pipeline"
PROVIDER = "huggingface"
TASKS = ("feature-extraction", "sentence-similarity")


def error_shape(status: int, message: str, retry_after: float | None) -> dict[str, Any]:
    return {"error": message}


def _texts(inputs: Any) -> list[str] | None:
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, list) and inputs and all(isinstance(i, str) for i in inputs):
        return list(inputs)
    return None


async def pipeline(request: Request) -> EmulatedResponse:
    task: str = request.path_params["task"]
    call = await begin(request, PROVIDER, error_shape, model=request.path_params["model"])
    if bearer_token(request) is None:
        return call.error(401, "Invalid credentials in Authorization header")
    if task not in TASKS:
        return call.error(400, f"Task {task!r} is not supported by the emulator; use one of {TASKS}")
    inputs = (call.json_body or {}).get("inputs")
    if task == "sentence-similarity":
        source = inputs.get("source_sentence") if isinstance(inputs, dict) else None
        sentences = _texts(inputs.get("sentences")) if isinstance(inputs, dict) else None
        if not isinstance(source, str) or sentences is None:
            return call.error(400, "inputs must be {source_sentence: str, sentences: [str, ...]}")
        behaviour = call.resolve_or_error(" ".join([source, *sentences]))
        if isinstance(behaviour, EmulatedResponse):
            return behaviour
        anchor = embedding(call.model, source)
        out: Any = [
            round(sum(a * b for a, b in zip(anchor, embedding(call.model, s), strict=True)), 6) for s in sentences
        ]
        return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))
    texts = _texts(inputs)
    if texts is None:
        return call.error(400, "inputs must be a string or a non-empty list of strings")
    behaviour = call.resolve_or_error(" ".join(texts))
    if isinstance(behaviour, EmulatedResponse):
        return behaviour
    vectors = [embedding(call.model, text) for text in texts]
    out = vectors[0] if isinstance(inputs, str) else vectors
    return call.finish(EmulatedResponse(behaviour=behaviour, headers=call.headers(), body=dump(out)))


def routes() -> list[Route]:
    return [Route(f"{PREFIX}/{{task}}/{{model:path}}", pipeline, methods=["POST"])]
