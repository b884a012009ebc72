"""Modal and E2B run the user's code in a sandbox that reaches MPC-API over HTTP with the
`openai` SDK configured by OPENAI_BASE_URL / OPENAI_API_KEY alone
(docs/integrations/sandboxes.md). The guide's script runs here as such a sandbox would run
it, with only those two settings for MPC-API in its environment (in this process: a child
Python would spend most of the test importing the SDK again)."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

# What this module proves, for docs/integration-matrix.md (`mpc-api docs matrix` reads it).
PLATFORM = "Modal, E2B (scripts)"
GUIDE = "docs/integrations/sandboxes.md"
COVERS = {
    "chat": "test_script_reaches_the_gateway_from_its_environment",
    "stream": "test_script_reaches_the_gateway_from_its_environment",
    "completions": "test_script_reaches_the_gateway_from_its_environment",
    "embeddings": "test_script_reaches_the_gateway_from_its_environment",
}

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "integrations" / "scripts" / "openai_from_env.py"


def test_script_reaches_the_gateway_from_its_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [k for k in os.environ if k.startswith(("OPENAI_", "MPC_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{stack.base_url}/api")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    seen = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "Summarize: sandboxes call" in seen["chat"]
    assert seen["task"] == "summarize" and seen["model"] in stack.catalog.models
    assert len([p for p in seen["stream"] if p]) >= 2 and seen["stream_usage"] > 0
    assert seen["completion_object"] == "text_completion" and "cheap flights" in seen["completion"]
    assert len(seen["embeddings"]) == 2 and seen["embeddings"][0] > 0
