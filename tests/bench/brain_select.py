"""Brain selection vs a naive linear scan, on a synthetic 1,000-model, 30-task catalog.

Both answer the same mixed requests (tiers, speeds, domains, capabilities, provider
allow/deny lists, context sizes, a few pins; some unsatisfiable) under a health snapshot
with one provider open and one half_open. The naive scan filters the whole model list for
every request and sorts the survivors with the full ranking key: what the brain would cost
without its per-catalog index. Every answer is checked equal before anything is timed.
Unit: microseconds per decision (median), lower is better.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable

from brain import BrainError, HealthSnapshot, Index, Selection, SelectionRequest, select
from catalog import Catalog
from catalog.loader import check_catalog
from catalog.schema import (
    Capability,
    CatalogFile,
    Modality,
    Model,
    Pricing,
    PricingUnit,
    Provider,
    QueueClass,
    Task,
    Tier,
    VideoLimits,
)
from tests.bench.result import BenchResult, better_ratio

SEED = 20261128
N_MODELS = 1_000
TIERS: tuple[Tier, ...] = ("flagship", "strong", "draft")
DOMAINS = ("code", "legal", "medical", "finance", "science", "marketing", "education", "support")
# (modality, task count, model count, providers, capabilities models draw from)
LAYOUT: tuple[tuple[Modality, int, int, tuple[Provider, ...], tuple[Capability, ...]], ...] = (
    (
        "text",
        18,
        700,
        ("openai", "anthropic", "gemini", "cometapi", "huggingface", "deepinfra", "groq", "together"),
        ("streaming", "tools", "vision", "json_mode", "reasoning"),
    ),
    ("embedding", 3, 50, ("openai", "gemini", "together", "deepinfra", "huggingface"), ()),
    ("image", 3, 100, ("openai", "fal", "replicate", "together", "gemini"), ("image_input",)),
    ("audio", 3, 70, ("openai", "elevenlabs", "groq", "gemini"), ("text_to_speech", "voice_cloning", "timestamps")),
    ("video", 3, 80, ("fal", "replicate", "runwayml", "pika", "heygen", "gemini"), ("image_to_video", "avatar")),
)
UNIT: dict[str, PricingUnit] = {
    "text": "usd_per_1m_tokens",
    "embedding": "usd_per_1m_tokens",
    "image": "usd_per_image",
    "audio": "usd_per_1k_characters",
    "video": "usd_per_video_second",
}
HEALTH = HealthSnapshot({"groq": "open", "together": "half_open"})

Decide = Callable[[SelectionRequest], object]


def synthetic_catalog(rnd: random.Random) -> Catalog:
    tasks: list[Task] = []
    models: list[Model] = []
    for modality, n_tasks, n_models, providers, caps in LAYOUT:
        queue: QueueClass = "interactive" if modality in ("text", "embedding") else "media"
        mine = [
            Task(
                id=f"{modality}_{i}",
                modality=modality,
                default_tier=rnd.choice(TIERS),
                queue=queue,
                description=f"Synthetic {modality} task {i}.",
                required_capabilities=(caps[0],) if caps and i == 0 else (),
            )
            for i in range(n_tasks)
        ]
        tasks += mine
        for j in range(n_models):
            index = len(models)
            served = rnd.sample(mine, rnd.randint(1, min(8, len(mine))))
            anchor = j < len(mine)  # the first models anchor one task each, always enabled
            if anchor and mine[j] not in served:
                served.append(mine[j])
            model_caps = {c for c in caps if rnd.random() < 0.6} | {c for t in served for c in t.required_capabilities}
            provider = rnd.choice(providers)
            models.append(
                Model(
                    id=f"{provider}/{modality}-{index:04d}",
                    provider=provider,
                    provider_id=f"{provider}/{modality}-{index:04d}-v1",
                    modality=modality,
                    inputs=("text",),
                    outputs=(modality,),
                    tasks=tuple(t.id for t in served),
                    domains=tuple(rnd.sample(DOMAINS, rnd.randint(0, 2))),
                    tier=rnd.choices(TIERS, weights=(2, 4, 4))[0],
                    speed=rnd.choice(("fast", "medium", "slow")),
                    capabilities=tuple(sorted(model_caps)),
                    context_window=rnd.choice((8_192, 32_768, 128_000, 200_000, 1_000_000))
                    if modality == "text"
                    else None,
                    pricing=Pricing(unit=UNIT[modality], output=round(rnd.uniform(0.05, 30.0), 2)),
                    aliases=(f"alias-{index:04d}",),
                    enabled=anchor or rnd.random() < 0.95,
                    video=VideoLimits(seconds=(4, 8), sizes=("1280x720",), max_generation_s=600)
                    if modality == "video"
                    else None,
                )
            )
    data = CatalogFile(version="bench", tasks=tuple(tasks), models=tuple(models))
    check_catalog(data)
    return Catalog(data, digest="bench")


def synthetic_requests(rnd: random.Random, catalog: Catalog, count: int) -> list[SelectionRequest]:
    task_ids = sorted(catalog.tasks)
    providers = sorted(catalog.providers)
    out: list[SelectionRequest] = []
    for _ in range(count):
        task = catalog.tasks[rnd.choice(task_ids)]
        servers = catalog.models_for_task(task.id)
        caps = sorted({c for m in servers for c in m.capabilities})
        out.append(
            SelectionRequest(
                task=task.id,
                tier=rnd.choice(TIERS) if rnd.random() < 0.3 else None,
                speed=rnd.choice(("fast", "medium", "slow")) if rnd.random() < 0.1 else None,
                domains=tuple(rnd.sample(DOMAINS, 2)) if rnd.random() < 0.2 else (),
                domains_required=rnd.random() < 0.05,
                capabilities=tuple(rnd.sample(caps, 1)) if caps and rnd.random() < 0.15 else (),
                providers_allow=tuple(rnd.sample(providers, 3)) if rnd.random() < 0.1 else (),
                providers_deny=tuple(rnd.sample(providers, 2)) if rnd.random() < 0.15 else (),
                min_context=rnd.choice((1_000, 50_000, 150_000))
                if task.modality == "text" and rnd.random() < 0.3
                else None,
                allow_downgrade=rnd.random() < 0.1,
                model=rnd.choice(servers).id if rnd.random() < 0.05 else None,
            )
        )
    return out


class NaiveScan:
    """The same policy without an index: filter all models, sort, round-robin, per request."""

    LEVEL = {"draft": 0, "strong": 1, "flagship": 2}
    SPEED = {"fast": 0, "medium": 1, "slow": 2}
    STATE = {"closed": 0.0, "half_open": 1.0, "open": 2.0}

    def __init__(self, catalog: Catalog, health: HealthSnapshot) -> None:
        self.catalog = catalog
        self.health = health

    def health_rank(self, provider: str) -> float:
        state = self.health.state(provider)
        return 0.0 if state == "closed" else self.STATE[state] + (1.0 - (self.health.score(provider) or 0.0)) / 2

    def passes(self, m: Model, task: Task, req: SelectionRequest) -> bool:
        need = set(task.required_capabilities) | set(req.capabilities)
        if not m.enabled or not need <= set(m.capabilities):
            return False
        if m.provider in req.providers_deny or (req.providers_allow and m.provider not in req.providers_allow):
            return False
        if req.min_context:
            if m.context_window is None:
                if m.modality == "text":
                    return False
            elif m.context_window < req.min_context:
                return False
        if req.speed is not None and m.speed != req.speed:
            return False
        return not (req.domains_required and req.domains and not set(m.domains) & set(req.domains))

    def __call__(self, req: SelectionRequest) -> tuple[str, ...] | str:
        task = self.catalog.tasks.get(req.task)
        if task is None:
            return "UnknownTask"
        pin = self.catalog.resolve(req.model) if req.model else None
        if pin is not None and req.task not in pin.tasks:
            return "ModelNotForTask"
        survivors = [m for m in self.catalog.data.models if req.task in m.tasks and self.passes(m, task, req)]
        pinned = pin if pin is not None and self.passes(pin, task, req) else None
        floor = self.LEVEL[req.tier or (pinned.tier if pinned else task.default_tier)]
        levels = {self.LEVEL[m.tier] for m in survivors if m is not pinned}
        above = [lv for lv in levels if lv >= floor]
        base = min(above) if above else (max(levels) if req.allow_downgrade and levels else None)
        if base is None and pinned is None:
            return "NoCandidate"
        wanted = set(req.domains)
        ranked = sorted(
            (m for m in survivors if m is not pinned and base is not None and self.LEVEL[m.tier] >= base),
            key=lambda m: (
                self.health_rank(m.provider),
                self.LEVEL[m.tier] - (base or 0),
                -len(wanted & set(m.domains)),
                self.SPEED[m.speed],
                m.pricing.output if m.pricing.output is not None else math.inf,
                m.id,
            ),
        )
        if pinned is not None:
            ranked.insert(0, pinned)
        need = min(max(req.max_fallbacks, 0), 8) + 1
        nth: dict[str, int] = {}
        rounds = []
        for pos, m in enumerate(ranked):
            rounds.append((nth.get(m.provider, 0), pos))
            nth[m.provider] = nth.get(m.provider, 0) + 1
        return tuple(ranked[pos].id for _, pos in sorted(rounds)[:need])


def brain_decider(index: Index, health: HealthSnapshot) -> Callable[[SelectionRequest], Selection | str]:
    def decide(req: SelectionRequest) -> Selection | str:
        try:
            return select(index, req, health)
        except BrainError as exc:
            return type(exc).__name__

    return decide


def chain_ids(answer: Selection | str) -> tuple[str, ...] | str:
    if isinstance(answer, str):
        return answer
    return (answer.model.id, *(m.id for m in answer.fallbacks))


def timings_us(decide: Decide, requests: list[SelectionRequest]) -> list[float]:
    clock = time.perf_counter_ns
    out: list[float] = []
    for req in requests:
        start = clock()
        decide(req)
        out.append((clock() - start) / 1_000)
    return out


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def run(*, smoke: bool) -> BenchResult:
    rnd = random.Random(SEED)
    catalog = synthetic_catalog(rnd)
    started = time.perf_counter()
    index = Index(catalog)
    build_ms = (time.perf_counter() - started) * 1_000
    requests = synthetic_requests(rnd, catalog, 100 if smoke else 2_000)
    rounds = 1 if smoke else 5
    brain, naive = brain_decider(index, HEALTH), NaiveScan(catalog, HEALTH)
    answers = [chain_ids(brain(req)) for req in requests]
    mismatch = next((r for r, a in zip(requests, answers, strict=True) if naive(r) != a), None)
    if mismatch is not None:
        raise AssertionError(f"brain and naive scan disagree on {mismatch}")
    brain_us: list[float] = []
    naive_us: list[float] = []
    healthy_us: list[float] = []
    healthy = brain_decider(index, HealthSnapshot())
    for _ in range(rounds):  # interleaved, so both see the same machine noise
        brain_us += timings_us(brain, requests)
        naive_us += timings_us(naive, requests)
        healthy_us += timings_us(healthy, requests)
    brain_median, naive_median = statistics.median(brain_us), statistics.median(naive_us)
    return BenchResult(
        scenario="brain_select",
        baseline=round(naive_median, 2),
        candidate=round(brain_median, 2),
        unit="us_per_decision",
        ratio=better_ratio(naive_median, brain_median, higher_is_better=False),
        extra={
            "brain_median_us": round(brain_median, 2),
            "brain_p99_us": round(p99(brain_us), 2),
            "naive_median_us": round(naive_median, 2),
            "naive_p99_us": round(p99(naive_us), 2),
            "brain_all_healthy_median_us": round(statistics.median(healthy_us), 2),
            "brain_all_healthy_p99_us": round(p99(healthy_us), 2),
            "decisions": len(brain_us),
            "no_candidate_share": round(sum(a == "NoCandidate" for a in answers) / len(answers), 3),
            "models": len(catalog.data.models),
            "tasks": len(catalog.tasks),
            "index_build_ms": round(build_ms, 1),
            "target_median_us": 20,
        },
    )
