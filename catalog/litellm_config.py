"""Check the catalog against a LiteLLM proxy config, in both directions.

Every catalog `provider_id` must be a LiteLLM `model_name` (or be served by a declared
pass-through endpoint, as HeyGen is), and every `model_name` must be a catalog
`provider_id`. Keys must be `os.environ/…` references, never literal values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from catalog.errors import CatalogError
from catalog.model import Catalog

DEFAULT_LITELLM_CONFIG = Path(__file__).resolve().parent.parent / "compose" / "litellm" / "config.yaml"
_SECRET_PARAMS = ("api_key", "master_key", "aws_secret_access_key", "vertex_credentials")


@dataclass(frozen=True, slots=True)
class LiteLLMConfig:
    model_names: tuple[str, ...]
    pass_through_paths: tuple[str, ...]
    raw: dict[str, Any]


def read_litellm_config(path: Path) -> LiteLLMConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogError(str(path), f"cannot read LiteLLM config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(str(path), f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("model_list"), list):
        raise CatalogError(str(path), "expected a mapping with a 'model_list' list")
    names: list[str] = []
    for i, entry in enumerate(raw["model_list"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("model_name"), str):
            raise CatalogError(f"{path}: model_list[{i}]", "entry has no 'model_name' string")
        names.append(entry["model_name"])
    general = raw.get("general_settings") or {}
    paths = tuple(
        str(ep.get("path", "")).strip("/") for ep in general.get("pass_through_endpoints") or [] if isinstance(ep, dict)
    )
    return LiteLLMConfig(model_names=tuple(names), pass_through_paths=paths, raw=raw)


def mismatches(catalog: Catalog, config: LiteLLMConfig) -> list[str]:
    """Every disagreement between catalog and config, one sentence each; empty when they match."""
    problems: list[str] = []
    seen: set[str] = set()
    for name in config.model_names:
        if name in seen:
            problems.append(f"LiteLLM model_name {name!r} is listed more than once")
        seen.add(name)
    provider_ids = catalog.provider_ids()
    for model in catalog.models.values():
        if model.provider_id in seen:
            continue
        route = model.provider_id.split("/", 1)[0]
        if route in config.pass_through_paths:
            continue
        problems.append(f"catalog model {model.id!r}: provider_id {model.provider_id!r} is not a LiteLLM model_name")
    for name in sorted(seen - provider_ids):
        problems.append(f"LiteLLM model_name {name!r} is not a provider_id in the catalog")
    problems.extend(_literal_secrets(config.raw))
    return problems


def _literal_secrets(raw: dict[str, Any]) -> list[str]:
    """Secrets must come from the environment: a literal key in a committed file is a leak."""
    problems = []
    for i, entry in enumerate(raw.get("model_list") or []):
        params = entry.get("litellm_params") or {}
        for name in _SECRET_PARAMS:
            value = params.get(name)
            if value is not None and not str(value).startswith("os.environ/"):
                problems.append(f"model_list[{i}].litellm_params.{name} must be an os.environ/… reference")
    master = (raw.get("general_settings") or {}).get("master_key")
    if master is not None and not str(master).startswith("os.environ/"):
        problems.append("general_settings.master_key must be an os.environ/… reference")
    return problems


def env_references(raw: Mapping[str, Any]) -> set[str]:
    """Every `os.environ/NAME` a LiteLLM config reads."""
    return set(re.findall(r"os\.environ/([A-Z0-9_]+)", repr(raw)))
