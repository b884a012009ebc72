"""Start-up: spawn → first 200 from `GET /health`, `mpc-api serve` vs a bare FastAPI app.

Both are served by uvicorn with uvloop and httptools in a fresh Python process; the runs
alternate between the two so machine noise hits both alike. The median of N runs counts.
"""

from __future__ import annotations

import statistics
import time

from sandbox.processes import free_port
from tests.bench._common import PYTHON, bench_env, child, flush_redis, ms, wait_http_ok
from tests.bench.result import BenchResult, better_ratio


def _time_to_health(args: list[str], port: int, *, bytecode_cache: bool = True) -> float:
    env = bench_env(bytecode_cache=bytecode_cache, MPC_PORT=str(port))
    started = time.perf_counter()
    with child(args, env) as proc:
        answered = wait_http_ok(proc, f"http://127.0.0.1:{port}/health")
    return answered - started


def run(*, smoke: bool) -> BenchResult:
    flush_redis()
    runs = 1 if smoke else 5
    ours_cmd = [PYTHON, "-m", "cli", "serve"]
    if not smoke:  # warm the page cache and __pycache__ so the first timed run is not special
        _time_to_health(ours_cmd, free_port())
        port = free_port()
        _time_to_health([PYTHON, "-m", "tests.bench._bare_app", str(port)], port)
    samples: dict[str, list[float]] = {"ours": [], "bare": []}
    no_pyc: list[float] = []
    for i in range(runs):
        for name in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
            port = free_port()
            cmd = ours_cmd if name == "ours" else [PYTHON, "-m", "tests.bench._bare_app", str(port)]
            samples[name].append(_time_to_health(cmd, port))
        if not smoke:
            no_pyc.append(_time_to_health(ours_cmd, free_port(), bytecode_cache=False))
    flush_redis()
    baseline = ms(statistics.median(samples["bare"]))
    candidate = ms(statistics.median(samples["ours"]))
    extra: dict[str, object] = {
        "runs": runs,
        "samples_ms": {name: [ms(s) for s in values] for name, values in samples.items()},
    }
    if not smoke:
        extra["ours_without_bytecode_cache_ms_median"] = ms(statistics.median(no_pyc))
        extra["notes"] = (
            "headline runs use a bytecode cache (PYTHONPYCACHEPREFIX); ours_without_bytecode_cache: "
            "PYTHONDONTWRITEBYTECODE=1 as set on these machines, so our own modules are compiled at every start"
        )
    return BenchResult(
        scenario="startup",
        baseline=baseline,
        candidate=candidate,
        unit="ms",
        ratio=better_ratio(baseline, candidate, higher_is_better=False),
        extra=extra,
    )
