"""Run one benchmark scenario and print its result as one JSON line."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path
from typing import Protocol, cast

from tests.bench.result import BenchResult


class Scenario(Protocol):
    def run(self, *, smoke: bool) -> BenchResult: ...


def scenario_names() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in {"result"} and not m.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    names = scenario_names()
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("scenario", choices=[*names, "all"])
    parser.add_argument("--smoke", action="store_true", help="a short run that only proves the scenario works")
    args = parser.parse_args(argv)
    for name in names if args.scenario == "all" else [args.scenario]:
        started = time.monotonic()
        module = cast(Scenario, importlib.import_module(f"tests.bench.{name}"))
        print(module.run(smoke=args.smoke).to_json(), flush=True)
        # On stderr, so stdout stays one JSON line per scenario: what each costs `make test`.
        print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
