"""A LiteLLM config that points the project's deployments at the provider emulator.

Starts from `compose/litellm/config.yaml` (the one `mpc-api catalog check` keeps in step
with the catalog) and only sets `api_base` (and, for Hugging Face embeddings, the task), so
LiteLLM's real provider adapters run. Providers the emulator does not speak get an
`api_base` under `/unemulated/`, which it answers 404: calls to them fail like a missing
model and the gateway falls back. Two adapters need more than the deployment's `api_base`:

- Gemini TTS drops the deployment's `api_base` (LiteLLM bug, `main.py speech`): the proxy
  needs `GEMINI_API_BASE` (`proxy_env`).
- Gemini transcription posts `{api_base}/v1beta/interactions`, so its `api_base` is the
  emulator's `/gemini`, not `/gemini/v1beta`.
- Veo (`video_generation` on gemini/) posts `{api_base}/v1beta/models/{m}:predictLongRunning`,
  so its `api_base` is the emulator's `/gemini` too; Runway video deployments get
  `/runway/v1` (Runway's image and TTS adapters poll a hard-coded host: left unemulated).
- HeyGen is LiteLLM's `/heygen` pass-through, whose `target` becomes the emulator's `/heygen`.
- Hugging Face embeddings post to the `api_base` itself, but first ask the Hub
  (`huggingface.co/api/models/...`, hard-coded) for the model's task unless the deployment
  names it (`input_type`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sandbox.emulator.control import providers
from sandbox.emulator.fal_wire import fal_endpoint

# LiteLLM route prefix -> emulator provider name.
EMULATED = {
    "openai": "openai",
    "groq": "groq",
    "together_ai": "together",
    "deepinfra": "deepinfra",
    "cometapi": "cometapi",
    "huggingface": "huggingface",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "elevenlabs": "elevenlabs",
    "fal_ai": "fal",
}
HF_EMBEDDING_TASK = "feature-extraction"

# Catalog media models (embed_text, image_generate, tts, transcribe) that no emulator can
# serve through LiteLLM 1.106.12, and why. tests/sandbox/test_media_through_litellm.py
# exercises every other one end to end, and checks this table against docs/providers.md.
UNREACHABLE_MEDIA: dict[str, str] = {
    "runwayml/gen4_image": (
        "LiteLLM polls the hard-coded https://api.dev.runwayml.com/v1/tasks/{id} after the create call "
        "(api_base and RUNWAYML_API_BASE only move the create); a pass-through endpoint cannot help, "
        "the poll is an outbound call of the adapter"
    ),
    "runwayml/eleven_multilingual_v2": (
        "LiteLLM polls the hard-coded https://api.dev.runwayml.com/v1/tasks/{id} after the create call "
        "(api_base and RUNWAYML_API_BASE only move the create); a pass-through endpoint cannot help, "
        "the poll is an outbound call of the adapter"
    ),
    "huggingface/sentence-transformers/all-MiniLM-L6-v2": (
        "LiteLLM sends every sentence-transformers model as a sentence-similarity request "
        "({source_sentence, sentences}), whatever the task, so Hugging Face answers similarity scores, "
        "not vectors; the emulator answers that shape on the feature-extraction route with a 400 "
        "(disabled in the catalog for this reason)"
    ),
}

# Catalog video_generate models no emulator can serve through LiteLLM 1.106.12, and why.
# tests/sandbox/test_video_through_litellm.py exercises every other one end to end, and
# checks this table against docs/providers.md. Every wire is emulated today: empty.
UNREACHABLE_VIDEO: dict[str, str] = {}


def _api_base(route: str, model: str, mode: str | None, emulator_base: str) -> tuple[str, dict[str, Any]]:
    """The deployment's `api_base` and any other litellm_params the emulator needs."""
    prefixes = providers()
    if route == "gemini" and mode in ("audio_transcription", "video_generation"):
        return emulator_base + prefixes["gemini"].removesuffix("/v1beta"), {}
    if route == "runwayml" and mode == "video_generation":
        return emulator_base + prefixes["runway"], {}
    if route == "huggingface" and mode == "embedding":
        base = f"{emulator_base}{prefixes['huggingface_inference']}/{HF_EMBEDDING_TASK}/{model}"
        return base, {"input_type": HF_EMBEDDING_TASK}
    emulated = EMULATED.get(route)
    if emulated is None:
        return f"{emulator_base}/unemulated/{route}", {}
    return emulator_base + prefixes[emulated], {}


def emulated_config(raw: Mapping[str, Any], emulator_base: str) -> dict[str, Any]:
    config = copy.deepcopy(dict(raw))
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        route, _, model = params["model"].partition("/")
        mode = (entry.get("model_info") or {}).get("mode")
        params["api_base"], extra = _api_base(route, model, mode, emulator_base)
        params.update(extra)
    general = config.setdefault("general_settings", {})
    for endpoint in general.get("pass_through_endpoints") or []:
        endpoint["target"] = f"{emulator_base}{endpoint['path']}"
    return config


def proxy_env(config: Mapping[str, Any]) -> dict[str, str]:
    """Environment a proxy running `config` needs beyond its keys: `GEMINI_API_BASE` when
    Gemini deployments point at the emulator (Gemini TTS ignores the deployment's api_base)."""
    for entry in config.get("model_list") or []:
        params = entry.get("litellm_params") or {}
        base = params.get("api_base")
        if str(params.get("model", "")).startswith("gemini/") and isinstance(base, str) and base.endswith("/v1beta"):
            return {"GEMINI_API_BASE": base}
    return {}


def upstream_models(config: Mapping[str, Any]) -> dict[str, str]:
    """Each deployment's `model_name` (a catalog provider_id) -> the model name LiteLLM sends
    its provider: the name the emulator logs and takes settings for. For fal that is the
    path LiteLLM posts to, which is the model family's endpoint (`fal_wire.fal_endpoint`)."""
    out: dict[str, str] = {}
    for entry in config["model_list"]:
        route, _, model = entry["litellm_params"]["model"].partition("/")
        out[entry["model_name"]] = (fal_endpoint(model) or model) if route == "fal_ai" else model
    return out
