"""schemathesis against the live gateway, from the gateway's own OpenAPI document.

Every route in the document (the fast-lane ones included) gets generated requests, valid
and invalid, and every check schemathesis has (`--checks all`): no answer is a 5xx, and
none contradicts the document (status, content type, headers, body schema). Its stateful
phase follows the document's links from a submitted job to reading and cancelling it.

The gateway runs with an interactive worker behind LiteLLM and the emulator, so chat
requests are answered for real; media requests are sent with `Prefer: respond-async` (202
and the job) since no media worker runs here. tests/chat/schemathesis.toml says which
statuses count as accepting schema-valid data, and why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

SCHEMATHESIS = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SEED = "20261204"  # a fixed seed: a failure here reproduces with the same command


def test_no_server_error_and_no_answer_against_the_schema(stack: Stack, tmp_path: Path) -> None:
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{stack.base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,fuzzing,stateful",  # the coverage phase doubles the time: run it by hand (docs)
        "--max-examples",
        "3",
        "--seed",
        SEED,
        "--workers",
        "4",  # the requests mostly wait on the gateway, LiteLLM and Redis
        "--request-timeout",
        "20",
        "-H",
        f"Authorization: Bearer {TEST_API_KEY}",
        "-H",
        "Prefer: respond-async",
    ]
    # In a directory of its own: schemathesis keeps a cache in `.schemathesis/` of its working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    report = run.stdout + run.stderr
    assert TEST_API_KEY not in report  # schemathesis filters the Authorization header
    assert run.returncode == 0, report[-6000:]
    # Every operation of the document was fuzzed and passed every check.
    document = httpx.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    operations = sum(1 for methods in document["paths"].values() for method in methods if method in HTTP_METHODS)
    assert f"Selected: {operations}/{operations}" in report and f"Tested: {operations}" in report, report[-3000:]
