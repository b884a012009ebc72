"""`plan_parallel`: a diamond plan (A → B, C → D, B and C of equal length) vs its critical
path made by a client: three chat calls A, B, D one after another (`_plan_bench`).

Every call has the same fixed emulator latency, so B and C are of equal length; if they ran
one after the other the plan would take a whole step longer than the critical path.

Goal: the diamond's p50 at most the critical path's + 15 ms (B and C ran together).
"""

from __future__ import annotations

import httpx

from tests.bench._plan_bench import chat_call, chat_step, compare, plan_call
from tests.bench.result import BenchResult

LATENCY_MS = 100.0
DIAMOND = [
    chat_step("a"),
    chat_step("b", "a", sources=("steps.a.output",)),
    chat_step("c", "a", sources=("steps.a.output",)),
    chat_step("d", "b", "c", sources=("steps.b.output", "steps.c.output")),
]


def _critical_path(client: httpx.Client) -> str:
    a = chat_call(client, "A brief about herons.")
    b = chat_call(client, a)
    return chat_call(client, f"## in0\n\n{b}\n\n## in1\n\n{b}")


def run(*, smoke: bool) -> BenchResult:
    return compare(
        "plan_parallel",
        smoke=smoke,
        latency_ms=LATENCY_MS,
        baseline=_critical_path,
        candidate=lambda client: plan_call(client, DIAMOND, "A brief about herons."),
        extra={"steps": 4, "shape": "a -> (b, c) -> d", "critical_path_steps": 3},
    )
