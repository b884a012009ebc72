"""``python -m sandbox.emulator --port N [--host 127.0.0.1]``: serve the provider emulator."""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.emulator.app import KEEP_ALIVE_S, create_emulator
from sandbox.emulator.control import providers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    for provider, prefix in providers().items():
        print(f"emulator: {provider:<12} api_base {base}{prefix}", flush=True)
    uvicorn.run(
        create_emulator(),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


if __name__ == "__main__":
    main()
