"""A LiteLLM config that points the project's deployments at the provider emulator.

Starts from `compose/litellm/config.yaml` (the one `mpc-api catalog check` keeps in step
with the catalog) and only sets `api_base`, so LiteLLM's real provider adapters run.
Providers the emulator does not speak yet get an `api_base` under `/unemulated/`, which it
answers 404: calls to them fail like a missing model and the gateway falls back.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sandbox.emulator.control import providers

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
}


def emulated_config(raw: Mapping[str, Any], emulator_base: str) -> dict[str, Any]:
    config = copy.deepcopy(dict(raw))
    prefixes = providers()
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        route = params["model"].split("/", 1)[0]
        emulated = EMULATED.get(route)
        if emulated is not None:
            params["api_base"] = emulator_base + prefixes[emulated]
        else:
            params["api_base"] = f"{emulator_base}/unemulated/{route}"
    general = config.setdefault("general_settings", {})
    for endpoint in general.get("pass_through_endpoints") or []:
        endpoint["target"] = f"{emulator_base}{endpoint['path']}"
    return config


def upstream_models(config: Mapping[str, Any]) -> dict[str, str]:
    """Each deployment's `model_name` (a catalog provider_id) -> the model name LiteLLM sends
    its provider: the name the emulator logs and takes settings for."""
    return {entry["model_name"]: entry["litellm_params"]["model"].split("/", 1)[1] for entry in config["model_list"]}
