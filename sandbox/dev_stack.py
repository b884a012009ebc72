"""`mpc-api dev`: the whole local stack in one process tree, supervised until Ctrl-C.

Redis (embedded unless MPC_REDIS_URL is set), LiteLLM (unless MPC_LITELLM_BASE_URL is set)
in front of the provider emulator when no provider key is set, the gateway and one worker
per queue class (`media` included), sharing a temporary artifact directory and link
signing key unless MPC_ARTIFACTS_URL / MPC_ARTIFACTS_SIGNING_KEY are set. The gateway and
workers run as `python -m cli ...`, exactly as deployed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, env_references
from queues.classes import QUEUE_CLASS_LIMITS
from queues.settings import load_settings
from sandbox.embedded_redis import start_embedded_redis
from sandbox.emulator.litellm_config import emulated_config
from sandbox.litellm_proxy import QUIET_ENV, offline_env, start_litellm
from sandbox.processes import StartError, free_port, port_answers, stop_process, stop_processes, wait_started

REPO = Path(__file__).resolve().parents[1]
EMULATOR_START_TIMEOUT_S = 20.0
DEV_OUTBOUND_ALLOW = "localhost,127.0.0.0/8,::1"


def run_dev_stack(*, prefer_fake_redis: bool = False) -> int:
    """Start the stack, supervise it until Ctrl-C (0) or a child's exit (its code), stop it."""
    settings = load_settings()  # fail early on a bad variable, before starting anything
    env = dict(os.environ)
    stack = DevStack()
    try:
        if "MPC_REDIS_URL" not in env:
            redis = start_embedded_redis(prefer_fake=prefer_fake_redis)
            stack.on_stop(redis.stop)
            env["MPC_REDIS_URL"] = redis.url
            say(f"embedded Redis ({redis.kind}) at {redis.url}")
        if not settings.api_key_hashes:
            key = "mpc-dev-" + secrets.token_urlsafe(24)
            env["MPC_API_KEYS"] = key
            say(f"no MPC_API_KEYS given; generated this key (send 'Authorization: Bearer {key}')")
        env.update(_artifact_env(stack, env))
        if "MPC_OUTBOUND_ALLOW" not in env:
            # A webhook receiver or media URL on this machine is the common case in development.
            env["MPC_OUTBOUND_ALLOW"] = DEV_OUTBOUND_ALLOW
            say(f"outbound calls (webhooks, media URLs) may reach loopback: MPC_OUTBOUND_ALLOW={DEV_OUTBOUND_ALLOW}")
        if "MPC_LITELLM_BASE_URL" not in env:
            env.update(_start_litellm(stack, env))
        stack.children.update(_start_children(env))
        say(f"gateway on http://{settings.host}:{settings.port}; Ctrl-C stops everything")
        return _supervise(stack.children)
    except StartError as exc:
        print(f"mpc-api dev: {exc}; stopping the stack", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def say(message: str) -> None:
    print(f"mpc-api dev: {message}", flush=True)


class DevStack:
    """What `mpc-api dev` started, stopped in reverse order."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stops: list[Callable[[], object]] = []

    def on_stop(self, stop: Callable[[], object]) -> None:
        self._stops.append(stop)

    def stop(self) -> None:
        stop_processes(self.children.values())
        for stop in reversed(self._stops):
            stop()


def _artifact_env(stack: DevStack, env: dict[str, str]) -> dict[str, str]:
    """A fresh artifact directory and link-signing key shared by the gateway and the workers,
    unless the environment sets them (media jobs write there; the gateway serves from it)."""
    out: dict[str, str] = {}
    if "MPC_ARTIFACTS_URL" not in env:
        directory = Path(tempfile.mkdtemp(prefix="mpc-dev-artifacts-"))
        stack.on_stop(lambda: shutil.rmtree(directory, ignore_errors=True))
        out["MPC_ARTIFACTS_URL"] = directory.as_uri()
        say(f"artifacts in {directory} (removed on exit)")
    if "MPC_ARTIFACTS_SIGNING_KEY" not in env:
        out["MPC_ARTIFACTS_SIGNING_KEY"] = secrets.token_urlsafe(32)
    return out


def _start_litellm(stack: DevStack, env: dict[str, str]) -> dict[str, str]:
    """Start LiteLLM; with no provider key set, in front of the emulator (offline sandbox)."""
    raw = yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text())
    provider_vars = sorted(env_references(raw) - {"LITELLM_MASTER_KEY"})
    workdir = Path(tempfile.mkdtemp(prefix="mpc-dev-litellm-"))
    stack.on_stop(lambda: shutil.rmtree(workdir, ignore_errors=True))
    master_key = "sk-mpc-dev-" + secrets.token_urlsafe(16)
    if any(env.get(name) for name in provider_vars):
        config = DEFAULT_LITELLM_CONFIG
        litellm_env = {**QUIET_ENV, "LITELLM_MASTER_KEY": master_key}
        have = [name for name in provider_vars if env.get(name)]
        say(f"LiteLLM uses the real providers whose keys are set: {', '.join(have)}")
    else:
        config = workdir / "config.yaml"
        emulator_url = _start_emulator(stack, env)
        emulated = emulated_config(raw, emulator_url)
        config.write_text(yaml.safe_dump(emulated))
        litellm_env = offline_env(emulated, master_key)
        say(f"no provider keys set: OFFLINE SANDBOX, providers are emulated at {emulator_url}")
    port = free_port()
    say(f"starting LiteLLM on port {port} (log: {workdir / 'litellm.log'}); this takes ~15 s")
    process = start_litellm(config, port, litellm_env, log=workdir / "litellm.log")
    stack.on_stop(lambda: stop_process(process))
    return {"MPC_LITELLM_BASE_URL": f"http://127.0.0.1:{port}", "MPC_LITELLM_API_KEY": master_key}


def _start_emulator(stack: DevStack, env: dict[str, str]) -> str:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.emulator", "--port", str(port)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
    )
    stack.on_stop(lambda: stop_process(process))
    wait_started(process, lambda: port_answers(port), what="the provider emulator", timeout_s=EMULATOR_START_TIMEOUT_S)
    return f"http://127.0.0.1:{port}"


def _start_children(env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    env = {**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "cli"]
    children = {"gateway": subprocess.Popen([*base, "serve"], env=env, cwd=REPO)}
    for queue_class in QUEUE_CLASS_LIMITS:
        metrics_port = free_port()
        say(f"worker {queue_class}: metrics on http://127.0.0.1:{metrics_port}/metrics")
        worker_env = {**env, "MPC_WORKER_METRICS_PORT": str(metrics_port)}
        command = [*base, "worker", "--queue", queue_class]
        children[f"worker-{queue_class}"] = subprocess.Popen(command, env=worker_env, cwd=REPO)
    return children


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> int:
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stopping:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                print(f"mpc-api dev: {name} exited with code {code}; stopping the stack", file=sys.stderr)
                return code or 1
        time.sleep(0.2)
    return 0
