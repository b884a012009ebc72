"""`mpc-api`: the command line, and the one composition root allowed to import every package.

It parses arguments and starts things; the logic lives in the packages.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from catalog import CatalogError, load_catalog
from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, mismatches, read_litellm_config
from catalog.schema import QUEUE_CLASSES, SPEEDS, TIERS
from queues.settings import SettingsError, load_settings

EXIT_CONFIG = 2
# The checkout `mpc-api` runs from (an editable install: cli.py sits at its root).
REPO_ROOT = Path(__file__).resolve().parent
MATRIX_FILE = "docs/integration-matrix.md"


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

    docs = sub.add_parser("docs", help="generated documentation")
    docs_sub = docs.add_subparsers(required=True, metavar="ACTION")
    matrix = docs_sub.add_parser("matrix", help=f"write {MATRIX_FILE} from the catalog and tests/platforms")
    matrix.add_argument("--check", action="store_true", help="only report whether the file is current (exit 1 if not)")
    matrix.set_defaults(func=cmd_docs_matrix)

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
    from api.connection_guard import server_options
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
        **server_options(settings),  # uvloop, httptools with the connection limits
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


def cmd_docs_matrix(args: argparse.Namespace) -> int:
    from sandbox.integration_matrix import render

    text = render(load_catalog(load_settings().catalog_path), REPO_ROOT)
    target = REPO_ROOT / MATRIX_FILE
    if args.check:
        current = target.exists() and target.read_text(encoding="utf-8") == text
        print(f"{MATRIX_FILE}: {'current' if current else 'out of date: run mpc-api docs matrix'}")
        return 0 if current else 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {MATRIX_FILE}")
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
    """The whole local stack in one process tree (sandbox/dev_stack.py)."""
    from sandbox.dev_stack import run_dev_stack

    return run_dev_stack(prefer_fake_redis=args.fake_redis)


if __name__ == "__main__":
    sys.exit(main())
