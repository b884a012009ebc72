"""Running the platforms' Node client libraries (tests/platforms/node) against a test stack.

`make node-deps` (run by `make test`) installs them with `npm ci` from the lockfile; each test
file runs one Node process that exercises its platform's client and prints what it saw as one
JSON line, which the test then checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.auth import TEST_API_KEY

NODE_DIR = Path(__file__).resolve().parents[1] / "platforms" / "node"
NODE_TIMEOUT_S = 120


def run_node_script(script: str, base_url: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not installed (Node 20 or later; see README)"
    assert (NODE_DIR / "node_modules").is_dir(), f"{NODE_DIR}/node_modules is missing: run `make node-deps`"
    env = {**os.environ, "MPC_BASE_URL": base_url, "MPC_API_KEY": TEST_API_KEY}
    done = subprocess.run(
        [node, script], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{script} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
