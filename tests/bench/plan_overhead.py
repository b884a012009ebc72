"""`plan_overhead`: a plan of three chained chat steps vs a client making the same three chat
calls one after another (`_plan_bench`).

Candidate: `POST /api/orchestrate {"steps": [a, b ← a, c ← b], "execute": true}` with
`Prefer: wait=60`, timed from request sent to the finished plan received: the plan job's
pickup on `batch`, three child jobs on `interactive`, the checkpoint writes and step events.
Baseline: three `POST /api/chat/completions`, each sent when the one before has answered,
each carrying the answer before it (what the plan's bindings do).

Goal: the plan's p50 at most the client's sequence + 15 ms.
"""

from __future__ import annotations

import httpx

from tests.bench._plan_bench import chat_call, chat_step, compare, plan_call
from tests.bench.result import BenchResult

LATENCY_MS = 50.0
CHAIN = [
    chat_step("a"),
    chat_step("b", "a", sources=("steps.a.output",)),
    chat_step("c", "b", sources=("steps.b.output",)),
]


def _sequence(client: httpx.Client) -> str:
    text = "A brief about otters."
    for _ in range(3):
        text = chat_call(client, text)
    return text


def run(*, smoke: bool) -> BenchResult:
    return compare(
        "plan_overhead",
        smoke=smoke,
        latency_ms=LATENCY_MS,
        baseline=_sequence,
        candidate=lambda client: plan_call(client, CHAIN, "A brief about otters."),
        extra={"steps": 3, "shape": "a -> b -> c"},
    )
