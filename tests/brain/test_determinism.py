"""Same catalog, same health, same request: the same bytes, even across processes.

Python randomizes string hashing per process, so iterating a set of domains or providers
can change order between two gateway processes. The brain must not let that show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from brain import HealthSnapshot, SelectionRequest, plan_for, select
from catalog import Catalog
from catalog.schema import Plan, PlanStep, Provider
from tests.brain.catalogs import build, make_model

REPO = Path(__file__).resolve().parents[2]
DOMAINS = ["code", "legal", "medical", "finance", "science"]


def sample_catalog() -> Catalog:
    providers: tuple[Provider, ...] = ("openai", "anthropic", "gemini", "groq", "together")
    models = [
        make_model(
            f"{providers[i % 5]}/m{i:02}",
            providers[i % 5],
            tier=("flagship", "strong", "draft")[i % 3],
            speed=("fast", "medium", "slow")[i // 3 % 3],
            domains=[DOMAINS[(i * 7 + k) % 5] for k in range(i % 3)],
            price=float(i % 4),  # many ties: ids must decide, not hash order
            caps=["tools"] if i % 2 else [],
            context=None if i % 11 == 0 else 32_000 * (1 + i % 4),
        )
        for i in range(40)
    ]
    steps = (
        PlanStep(id="b", task="chat", description="Second."),
        PlanStep(id="a", task="chat", description="First."),
    )
    return build(models, plans=[Plan(id="pair", description="Two steps.", steps=steps)])


def answers() -> bytes:
    catalog = sample_catalog()
    health = HealthSnapshot({"groq": "open", "gemini": "half_open", "openai": "closed"}, scores={"groq": 0.5})
    requests = [
        SelectionRequest(task="chat", explain=True),
        SelectionRequest(task="chat", domains=("legal", "science", "code"), explain=True, max_fallbacks=8),
        SelectionRequest(task="chat", domains=("finance", "medical"), providers_deny=("openai", "groq")),
        SelectionRequest(task="chat", capabilities=("tools",), min_context=64_000, tier="draft", max_fallbacks=8),
        SelectionRequest(task="chat", providers_allow=("groq", "gemini"), max_fallbacks=8),
        SelectionRequest(task="chat", model="groq/m03", domains=("code", "legal")),
    ]
    out: list[object] = [select(catalog, r, health) for r in requests]
    out.append(plan_for(catalog, SelectionRequest(task="pair", explain=True), health))
    return msgspec.json.encode(out)


def test_answers_are_identical_across_processes_with_different_hash_seeds() -> None:
    here = answers()
    assert here == answers()
    script = "import sys; from tests.brain.test_determinism import answers; sys.stdout.buffer.write(answers())"
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, check=True, timeout=60
        )
        assert done.stdout == here, f"answers differ with PYTHONHASHSEED={seed}"
