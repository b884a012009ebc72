"""`mpc-api dev` as a newcomer runs it: one command, the whole stack, an offline sandbox when
no provider key is set, a generated API key that is enforced, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from standardwebhooks import Webhook

from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, env_references
from sandbox.processes import free_port, stop_process
from tests.support.processes import REPO
from tests.support.servers import running_server
from tests.support.waiting import wait_until
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 120


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    provider_vars = env_references(yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text()))
    # A clean environment: no MPC_ settings but the port, no provider key (so: the sandbox).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPC_") and k not in provider_vars}
    env["MPC_PORT"] = str(port)
    output = tmp_path / "dev.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield process, port, output
    finally:
        stop_process(process, grace_s=30)  # SIGTERM: the stack stops its own children


def test_dev_runs_the_offline_stack_and_ctrl_c_stops_every_process(
    dev_stack: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, output = dev_stack
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, output.read_text()
        try:
            return httpx.get(f"{base}/health", timeout=1).json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    assert wait_until(ready, timeout=START_TIMEOUT_S, interval=0.5), output.read_text()
    said = output.read_text()
    assert "OFFLINE SANDBOX" in said
    match = re.search(r"send 'Authorization: Bearer (\S+)'", said)
    assert match, said
    key = match.group(1)

    # The generated key is enforced, and the chat goes all the way through to the emulator.
    assert httpx.get(f"{base}/api/tasks", timeout=5).status_code == 401
    client = openai.OpenAI(base_url=f"{base}/api", api_key=key, max_retries=0, timeout=60)
    answer = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello sandbox"}])
    assert "hello sandbox" in (answer.choices[0].message.content or "")

    # A job's webhook reaches a receiver on loopback (dev allows it), signed with the key's secret.
    auth = {"Authorization": f"Bearer {key}"}
    secret = httpx.get(f"{base}/api/webhooks/secret", headers=auth, timeout=5).json()["secret"]
    hooks = Receiver()
    with running_server(hooks.app) as receiver:
        job = {"task": "chat_general", "input": {"messages": [{"role": "user", "content": "hi"}]}}
        job["webhook"] = {"url": f"{receiver}/hooks/dev"}
        submitted = httpx.post(f"{base}/api/jobs", headers=auth, json=job, timeout=5)
        assert submitted.status_code == 202, submitted.text
        [call] = hooks.wait_for("dev", timeout=60)
    event = Webhook(secret).verify(call.body, call.headers)
    assert (event["type"], event["data"]["id"]) == ("job.succeeded", submitted.json()["id"])

    started = _descendants(process.pid)
    assert len(started) >= 6, started  # Redis, emulator, LiteLLM, gateway, three workers
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, output.read_text()
    wait_until(lambda: not any(_alive(pid) for pid in started), timeout=15, interval=0.2)
    assert not [pid for pid in started if _alive(pid)], output.read_text()
