"""The `mpc-api` command as a user runs it: exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from catalog.litellm_config import DEFAULT_LITELLM_CONFIG
from tests.support.processes import REPO


def mpc_api(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MPC_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def test_catalog_check_passes_on_the_bundled_files() -> None:
    result = mpc_api("catalog", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: catalog ")


def test_catalog_check_fails_on_a_broken_litellm_config(tmp_path: Path) -> None:
    config = yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text())
    removed = config["model_list"].pop(0)["model_name"]
    config["model_list"].append(
        {"model_name": "acme/ghost", "litellm_params": {"model": "openai/ghost", "api_key": "sk-1"}}
    )
    broken = tmp_path / "config.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = mpc_api("catalog", "check", "--litellm-config", str(broken))
    assert result.returncode == 1
    assert f"provider_id {removed!r} is not a LiteLLM model_name" in result.stdout
    assert "LiteLLM model_name 'acme/ghost' is not a provider_id in the catalog" in result.stdout
    assert "must be an os.environ/… reference" in result.stdout
    assert "sk-1" not in result.stdout + result.stderr


def test_a_bad_catalog_stops_serve_with_the_path_and_nonzero_exit(tmp_path: Path) -> None:
    data = json.loads((REPO / "catalog" / "model_catalog.json").read_text())
    data["models"][3]["tier"] = "premium"
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps(data))
    result = mpc_api("serve", env={"MPC_CATALOG_PATH": str(bad), "MPC_API_KEYS": "k" * 20})
    assert result.returncode == 2
    assert "$.models[3].tier" in result.stderr


def test_serve_refuses_to_start_without_keys_and_says_how() -> None:
    result = mpc_api("serve")
    assert result.returncode == 2
    assert "MPC_API_KEYS" in result.stderr


def test_bad_setting_is_named_and_secret_not_echoed() -> None:
    result = mpc_api("serve", env={"MPC_REDIS_URL": "http://user:hunter2@x", "MPC_API_KEYS": "k" * 20})
    assert result.returncode == 2
    assert "MPC_REDIS_URL" in result.stderr and "hunter2" not in result.stderr


def test_select_prints_a_readable_decision() -> None:
    result = mpc_api("select", "tts", "--explain")
    assert result.returncode == 0, result.stderr
    assert "primary" in result.stdout and "why:" in result.stdout and "considered" in result.stdout
    unknown = mpc_api("select", "dance")
    assert unknown.returncode == 1 and "known tasks" in unknown.stderr


def test_keys_commands_print_the_key_once_and_never_list_it(clean_redis: str) -> None:
    env = {"MPC_REDIS_URL": clean_redis}
    made = mpc_api("keys", "create", "--name", "cli-key", "--rpm", "120", "--concurrency", "media=2", env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("mpc_") and len(key) > 40 and " " not in key
    assert mpc_api("keys", "create", "--name", "cli-key", env=env).returncode == 1
    assert mpc_api("keys", "update", "cli-key", "--rpm", "none", "--scopes", "chat", env=env).returncode == 0
    listed = mpc_api("keys", "list", env=env)
    assert listed.returncode == 0
    assert "cli-key" in listed.stdout and "scopes chat" in listed.stdout and "media concurrency 2" in listed.stdout
    assert "rpm" not in listed.stdout and key not in listed.stdout
    assert mpc_api("keys", "revoke", "cli-key", env=env).returncode == 0
    gone = mpc_api("keys", "revoke", "cli-key", env=env)
    assert gone.returncode == 1 and "no key is named" in gone.stderr
