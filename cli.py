"""`mpc-api`: the command line, and the one composition root allowed to import every package.

It parses arguments and starts things; the logic lives in the packages.
"""

from __future__ import annotations

import argparse
import gc
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

from catalog import CatalogError, load_catalog
from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, mismatches, read_litellm_config
from catalog.schema import QUEUE_CLASSES, SPEEDS, TIERS
from queues.settings import SettingsError, load_settings

EXIT_CONFIG = 2
REPO = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (SettingsError, CatalogError) as exc:
        print(f"mpc-api: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpc-api", description="Task-based model gateway.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP gateway (port MPC_PORT, default 3000)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run an arq worker for one queue class")
    worker.add_argument("--queue", required=True, choices=QUEUE_CLASSES)
    worker.set_defaults(func=cmd_worker)

    dev = sub.add_parser("dev", help="run the whole local stack: Redis, gateway, one worker per queue class")
    dev.add_argument("--fake-redis", action="store_true", help="use the in-process Redis even if redis-server exists")
    dev.set_defaults(func=cmd_dev)

    catalog = sub.add_parser("catalog", help="catalog tools")
    catalog_sub = catalog.add_subparsers(required=True, metavar="ACTION")
    check = catalog_sub.add_parser("check", help="check the catalog and its agreement with the LiteLLM config")
    check.add_argument("--catalog", type=Path, help="catalog JSON (default: MPC_CATALOG_PATH or the bundled one)")
    check.add_argument("--litellm-config", type=Path, default=DEFAULT_LITELLM_CONFIG)
    check.set_defaults(func=cmd_catalog_check)

    select = sub.add_parser("select", help="print the Model Brain's choice for a task")
    select.add_argument("task")
    select.add_argument("--tier", choices=TIERS)
    select.add_argument("--speed", choices=SPEEDS)
    select.add_argument("--provider", action="append", default=[], help="allow only this provider (repeatable)")
    select.add_argument("--deny", action="append", default=[], help="never use this provider (repeatable)")
    select.add_argument("--fallbacks", type=int, default=3)
    select.add_argument("--explain", action="store_true")
    select.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    select.set_defaults(func=cmd_select)
    return parser


def cmd_serve(_: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from metrics.jsonlog import configure_logging

    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    app = create_app(settings, catalog)
    configure_logging(settings.log_level)
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stop the event loop mid-request (~45 ms for a full pass here).
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        loop="uvloop",
        http="httptools",
        access_log=False,  # the gateway's middleware logs each request as JSON
        log_config=None,  # keep the JSON logging configured above
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.runner import run_worker

    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    run_worker(settings, catalog, args.queue)
    return 0


def cmd_catalog_check(args: argparse.Namespace) -> int:
    path = args.catalog or load_settings().catalog_path
    catalog = load_catalog(path)
    problems = mismatches(catalog, read_litellm_config(args.litellm_config))
    for problem in problems:
        print(f"mismatch: {problem}")
    if problems:
        print(f"{len(problems)} mismatch(es) between {path} and {args.litellm_config}", file=sys.stderr)
        return 1
    print(
        f"ok: catalog {catalog.version} ({len(catalog.models)} models, {len(catalog.tasks)} tasks, "
        f"{len(catalog.providers)} providers) matches {args.litellm_config}"
    )
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    import msgspec

    from brain import BrainError, SelectionRequest, select
    from brain.describe import describe

    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    request = SelectionRequest(
        task=args.task,
        tier=args.tier,
        speed=args.speed,
        providers_allow=tuple(args.provider),
        providers_deny=tuple(args.deny),
        max_fallbacks=args.fallbacks,
        explain=args.explain,
    )
    try:
        selection = select(catalog, request)
    except BrainError as exc:
        print(f"mpc-api select: {exc.message}", file=sys.stderr)
        return 1
    print(msgspec.json.encode(selection).decode() if args.json else describe(selection))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """The whole local stack in one process tree: Redis (embedded unless MPC_REDIS_URL is
    set), LiteLLM (unless MPC_LITELLM_BASE_URL is set) with the provider emulator when no
    provider key is set, the gateway and one worker per queue class."""
    from queues.embedded import start_embedded_redis

    settings = load_settings()  # fail early on a bad variable, before starting anything
    env = dict(os.environ)
    stack = DevStack()
    try:
        if "MPC_REDIS_URL" not in env:
            redis = start_embedded_redis(prefer_fake=args.fake_redis)
            stack.on_stop(redis.stop)
            env["MPC_REDIS_URL"] = redis.url
            say(f"embedded Redis ({redis.kind}) at {redis.url}")
        if not settings.api_key_hashes:
            key = "mpc-dev-" + secrets.token_urlsafe(24)
            env["MPC_API_KEYS"] = key
            say(f"no MPC_API_KEYS given; generated this key (send 'Authorization: Bearer {key}')")
        if "MPC_LITELLM_BASE_URL" not in env:
            env.update(_start_litellm(stack, env))
        stack.children.update(_start_children(env))
        say(f"gateway on http://{settings.host}:{settings.port}; Ctrl-C stops everything")
        return _supervise(stack.children)
    finally:
        stack.stop()


def say(message: str) -> None:
    print(f"mpc-api dev: {message}", flush=True)


class DevStack:
    """What `mpc-api dev` started, stopped in reverse order."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stops: list[Callable[[], None]] = []

    def on_stop(self, stop: Callable[[], None]) -> None:
        self._stops.append(stop)

    def stop(self) -> None:
        _stop_children(self.children)
        for stop in reversed(self._stops):
            stop()


def _start_litellm(stack: DevStack, env: dict[str, str]) -> dict[str, str]:
    """Start LiteLLM; with no provider key set, in front of the emulator (offline sandbox)."""
    import yaml

    from catalog.litellm_config import env_references
    from workers.litellm_proxy import QUIET_ENV, start_litellm, stop_litellm

    raw = yaml.safe_load(DEFAULT_LITELLM_CONFIG.read_text())
    provider_vars = sorted(env_references(raw) - {"LITELLM_MASTER_KEY"})
    workdir = Path(tempfile.mkdtemp(prefix="mpc-dev-litellm-"))
    stack.on_stop(lambda: shutil.rmtree(workdir, ignore_errors=True))
    master_key = "sk-mpc-dev-" + secrets.token_urlsafe(16)
    litellm_env = {**QUIET_ENV, "LITELLM_MASTER_KEY": master_key}
    if any(env.get(name) for name in provider_vars):
        config = DEFAULT_LITELLM_CONFIG
        have = [name for name in provider_vars if env.get(name)]
        say(f"LiteLLM uses the real providers whose keys are set: {', '.join(have)}")
    else:
        config = workdir / "config.yaml"
        emulator_url = _start_emulator(stack, env)
        config.write_text(yaml.safe_dump(_emulated_config(raw, emulator_url)))
        litellm_env.update({name: "sandbox-no-key" for name in provider_vars})
        say(f"no provider keys set: OFFLINE SANDBOX, providers are emulated at {emulator_url}")
    port = _free_port()
    say(f"starting LiteLLM on port {port} (log: {workdir / 'litellm.log'}); this takes ~15 s")
    process = start_litellm(config, port, litellm_env, log=workdir / "litellm.log")
    stack.on_stop(lambda: stop_litellm(process))
    return {"MPC_LITELLM_BASE_URL": f"http://127.0.0.1:{port}", "MPC_LITELLM_API_KEY": master_key}


def _start_emulator(stack: DevStack, env: dict[str, str]) -> str:
    from queues.embedded import port_answers

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", str(port)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
    )
    stack.on_stop(lambda: _stop_children({"emulator": process}))
    deadline = time.monotonic() + 20
    while not port_answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("mpc-api dev: the provider emulator did not start (it ships in tests/emulator)")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def _emulated_config(raw: dict[str, object], emulator_url: str) -> dict[str, object]:
    # The emulator ships with the tests, not the installed packages: the sandbox needs a checkout.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.emulator.litellm_config import emulated_config

    return emulated_config(raw, emulator_url)


def _free_port() -> int:
    from queues.embedded import free_port

    return free_port()


def _start_children(env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    env = {**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "cli"]
    children = {"gateway": subprocess.Popen([*base, "serve"], env=env, cwd=REPO)}
    for queue_class in ("interactive", "batch", "media"):
        metrics_port = _free_port()
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


def _stop_children(children: dict[str, subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())
