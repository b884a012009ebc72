"""`mpc-api`: the command line, and the one composition root allowed to import every package.

It parses arguments and starts things; the logic lives in the packages.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from catalog import CatalogError, load_catalog
from catalog.litellm_config import DEFAULT_LITELLM_CONFIG, mismatches, read_litellm_config
from catalog.schema import QUEUE_CLASSES, SPEEDS, TIERS
from queues.settings import SettingsError, load_settings
from queues.waiting import install_cancel_safe_wait_for

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from queues.api_keys import KeyLimits

EXIT_CONFIG = 2
# The checkout `mpc-api` runs from (an editable install: cli.py sits at its root).
REPO_ROOT = Path(__file__).resolve().parent
MATRIX_FILE = "docs/integration-matrix.md"
_UNCHANGED = object()  # `keys update` without --rpm or --tpm: left as it is


def main(argv: list[str] | None = None) -> int:
    install_cancel_safe_wait_for()  # before any event loop: queues/waiting.py says why
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

    _add_keys_parser(sub)

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


def _add_keys_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="manage API keys in Redis (MPC_REDIS_URL)")
    keys_sub = keys.add_subparsers(required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", type=_scopes, help="comma-separated (default: every scope but admin)")
    _add_limit_options(create, clearable=False)
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="names, scopes, limits and last use (never a key)")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="stop a key working, on every gateway within a second")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_keys_revoke)
    update = keys_sub.add_parser("update", help="change a key's scopes or limits ('none' removes a limit)")
    update.add_argument("name")
    update.add_argument("--scopes", type=_scopes, help="comma-separated: the key's scopes from now on")
    _add_limit_options(update, clearable=True)
    update.set_defaults(rpm=_UNCHANGED, tpm=_UNCHANGED)
    update.set_defaults(func=cmd_keys_update)


def _add_limit_options(parser: argparse.ArgumentParser, *, clearable: bool) -> None:
    amount = _limit_or_none if clearable else _limit
    hint = "N or none" if clearable else "N"
    parser.add_argument("--rpm", type=amount, metavar=hint, help="requests per minute")
    parser.add_argument("--tpm", type=amount, metavar=hint, help="tokens per minute (from the usage models report)")
    parser.add_argument(
        "--concurrency",
        type=_concurrency(amount),
        action="append",
        default=[],
        metavar=f"CLASS={hint}",
        help="jobs at once in a queue class: interactive, batch or media (repeatable)",
    )


def _scopes(raw: str) -> tuple[str, ...]:
    return tuple(scope.strip() for scope in raw.split(",") if scope.strip())


def _limit(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {raw!r}")
    return int(raw)


def _limit_or_none(raw: str) -> int | None:
    return None if raw.strip().lower() == "none" else _limit(raw)


def _concurrency(amount: Callable[[str], int | None]) -> Callable[[str], tuple[str, int | None]]:
    def parse(raw: str) -> tuple[str, int | None]:
        queue_class, sep, value = raw.partition("=")
        if not sep or queue_class.strip() not in QUEUE_CLASSES:
            raise argparse.ArgumentTypeError(f"expected CLASS=N with CLASS one of {', '.join(QUEUE_CLASSES)}")
        return queue_class.strip(), amount(value.strip())

    return parse


def _with_key_store(work: Callable[[Redis], Awaitable[int]]) -> int:
    """Run `work` on a Redis client of MPC_REDIS_URL; a refused key spec is exit code 2."""
    import asyncio

    from queues.api_keys import KeyNameTaken, KeySpecError, UnknownKey
    from queues.redis import connect

    settings = load_settings()

    async def run() -> int:
        redis = connect(settings.redis_url)
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except KeySpecError as exc:
        print(f"mpc-api keys: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyNameTaken as exc:
        print(f"mpc-api keys: a key named {exc} exists already", file=sys.stderr)
        return 1
    except UnknownKey as exc:
        print(f"mpc-api keys: no key is named {exc}", file=sys.stderr)
        return 1


def cmd_keys_create(args: argparse.Namespace) -> int:
    from queues.api_keys import DEFAULT_SCOPES, KeyLimits, create_key

    limits = KeyLimits(rpm=args.rpm, tpm=args.tpm, concurrency=dict(args.concurrency))

    async def work(redis: Redis) -> int:
        record, secret = await create_key(redis, args.name, scopes=args.scopes or DEFAULT_SCOPES, limits=limits)
        print(f"created key {record.name!r}: scopes {','.join(record.scopes)}; {_describe_limits(record.limits)}")
        print("the key follows, shown this once (only its SHA-256 digest is kept):")
        print(secret)
        return 0

    return _with_key_store(work)


def cmd_keys_list(_: argparse.Namespace) -> int:
    import datetime

    from queues.api_keys import list_keys

    def when(at: float | None) -> str:
        return "never" if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")

    async def work(redis: Redis) -> int:
        listed = await list_keys(redis)
        for key in listed:
            print(
                f"{key.name}\tcreated {when(key.created_at)}\tlast used {when(key.last_used_at)}"
                f"\tscopes {','.join(key.scopes)}\t{_describe_limits(key.limits)}"
            )
        if not listed:
            print("no managed keys (keys from MPC_API_KEYS are not listed)", file=sys.stderr)
        return 0

    return _with_key_store(work)


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from queues.api_keys import revoke_key

    async def work(redis: Redis) -> int:
        await revoke_key(redis, args.name)
        print(f"revoked key {args.name!r}")
        return 0

    return _with_key_store(work)


def cmd_keys_update(args: argparse.Namespace) -> int:
    import msgspec

    from queues.api_keys import ApiKey, checked_concurrency, update_key

    given = vars(args)

    def change(record: ApiKey) -> ApiKey:
        limits = record.limits
        for field in ("rpm", "tpm"):
            if given[field] is not _UNCHANGED:
                limits = msgspec.structs.replace(limits, **{field: given[field]})
        concurrency = checked_concurrency(dict(args.concurrency), limits.concurrency)
        limits = msgspec.structs.replace(limits, concurrency=concurrency)
        return msgspec.structs.replace(record, scopes=args.scopes or record.scopes, limits=limits)

    async def work(redis: Redis) -> int:
        record = await update_key(redis, args.name, change)
        print(f"updated key {record.name!r}: scopes {','.join(record.scopes)}; {_describe_limits(record.limits)}")
        return 0

    return _with_key_store(work)


def _describe_limits(limits: KeyLimits) -> str:
    parts = [f"rpm {limits.rpm}" if limits.rpm else "", f"tpm {limits.tpm}" if limits.tpm else ""]
    parts += [f"{name} concurrency {n}" for name, n in sorted(limits.concurrency.items())]
    return ", ".join(p for p in parts if p) or "no limits"


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
