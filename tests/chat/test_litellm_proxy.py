"""The LiteLLM proxy as MPC-API starts it (`sandbox.litellm_proxy`, for `mpc-api dev` and the
tests) and as compose runs it: the same garbage-collector setting."""

from __future__ import annotations

import httpx
import pytest
import yaml

from sandbox.litellm_proxy import LITELLM_GC_THRESHOLD
from tests.support.compose import COMPOSE_FILE, env_example
from tests.support.litellm import LiteLLMProxy

pytestmark = pytest.mark.slow


def thresholds(value: str) -> list[int]:
    return [int(part) for part in value.split(",")]


def test_litellm_runs_with_the_shipped_gc_threshold(litellm: LiteLLMProxy) -> None:
    # LiteLLM's own memory report gives the thresholds its process runs with.
    response = httpx.get(
        f"{litellm.base_url}/debug/memory/details",
        params={"top_n": 1, "include_process_info": "false"},
        headers={"Authorization": f"Bearer {litellm.master_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    seen = response.json()["garbage_collector"]["thresholds"]
    running = [seen["generation_0"], seen["generation_1"], seen["generation_2"]]
    assert running == thresholds(LITELLM_GC_THRESHOLD)
    assert running != [700, 10, 10]  # CPython's default: the setting did not reach LiteLLM


def test_compose_gives_litellm_the_same_gc_threshold() -> None:
    env = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["litellm"]["environment"]
    assert env["PYTHON_GC_THRESHOLD"] == f"${{PYTHON_GC_THRESHOLD:-{LITELLM_GC_THRESHOLD}}}"
    assert env_example()["PYTHON_GC_THRESHOLD"] == LITELLM_GC_THRESHOLD
