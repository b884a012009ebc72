"""Small catalogs for brain tests: hand-built ones and hypothesis strategies.

Catalogs are built from `CatalogFile` structs and checked with the loader's own
`check_catalog`, so every generated catalog is one the gateway could really load.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from hypothesis import strategies as st

from brain import HealthSnapshot, SelectionRequest
from catalog import Catalog
from catalog.breaker_states import BreakerState
from catalog.loader import check_catalog
from catalog.schema import (
    REQUIRED_INPUTS,
    Capability,
    CatalogFile,
    Modality,
    Model,
    Plan,
    Pricing,
    PricingUnit,
    Provider,
    QueueClass,
    RequiredInput,
    Speed,
    Task,
    Tier,
)

PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic", "gemini", "groq", "together", "fal")
CAPS: tuple[Capability, ...] = ("streaming", "tools", "vision", "json_mode")
_T = TypeVar("_T")

DOMAINS = ("code", "legal", "medical", "finance")
TIER_VALUES: tuple[Tier, ...] = ("flagship", "strong", "draft")
SPEED_VALUES: tuple[Speed, ...] = ("fast", "medium", "slow")
CONTEXTS = (None, 8_000, 32_000, 128_000, 1_000_000)
PRICES = (None, 0.0, 0.5, 1.0, 2.5, 10.0)


def make_model(
    mid: str,
    provider: Provider = "openai",
    *,
    tier: Tier = "strong",
    speed: Speed = "medium",
    tasks: Sequence[str] = ("chat",),
    modality: Modality = "text",
    caps: Sequence[Capability] = (),
    domains: Sequence[str] = (),
    context: int | None = 128_000,
    price: float | None = 1.0,
    enabled: bool = True,
    aliases: Sequence[str] = (),
    provider_id: str | None = None,
    required_inputs: Sequence[RequiredInput] = (),
) -> Model:
    unit: PricingUnit = "usd_per_1m_tokens" if modality in ("text", "embedding") else "usd_per_image"
    return Model(
        id=mid,
        provider=provider,
        provider_id=provider_id or f"{mid}-pid",
        modality=modality,
        inputs=("text",),
        outputs=(modality,),
        tasks=tuple(tasks),
        domains=tuple(domains),
        tier=tier,
        speed=speed,
        capabilities=tuple(caps),
        context_window=context,
        pricing=Pricing(unit=unit, output=price),
        aliases=tuple(aliases),
        enabled=enabled,
        required_inputs=tuple(required_inputs),
    )


def make_task(
    tid: str,
    *,
    modality: Modality = "text",
    default_tier: Tier = "strong",
    required: Sequence[Capability] = (),
) -> Task:
    queue: QueueClass = "interactive" if modality == "text" else "media"
    return Task(
        id=tid,
        modality=modality,
        default_tier=default_tier,
        queue=queue,
        description=f"Task {tid}.",
        required_capabilities=tuple(required),
    )


def build(
    models: Sequence[Model], tasks: Sequence[Task] | None = None, plans: Sequence[Plan] = (), *, check: bool = True
) -> Catalog:
    """A catalog, checked by the loader's rules unless `check` is False (for states a valid
    catalog cannot reach). Tasks default to every task id the models name (text, strong)."""
    if tasks is None:
        ids = sorted({t for m in models for t in m.tasks})
        tasks = [make_task(t) for t in ids]
    data = CatalogFile(version="test", tasks=tuple(tasks), models=tuple(models), plans=tuple(plans))
    if check:
        check_catalog(data)
    return Catalog(data, digest="test")


# Hypothesis spends most of its time per draw, and long drawn byte strings come out all
# zeros about half the time, so each generated record is instead one drawn integer seed
# expanded with `random.Random`: cheap, varied, and still reproducible from the failure
# report.
_SEED = st.integers(0, 2**32 - 1)


def _subset(rnd: random.Random, options: Sequence[_T], p: float, limit: int | None = None) -> list[_T]:
    chosen = [o for o in options if rnd.random() < p]
    return chosen[:limit] if limit is not None else chosen


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    """1-4 tasks (text and image), up to 30 models (at least one per task) on up to six providers."""
    rnd = random.Random(draw(_SEED))
    n_tasks = rnd.randint(1, 4)
    tasks = [
        make_task(
            f"t{i}",
            modality=rnd.choice(("text", "text", "image")),
            default_tier=rnd.choice(TIER_VALUES),
            required=_subset(rnd, CAPS, 0.15, limit=1),
        )
        for i in range(n_tasks)
    ]
    # Fewer providers than models in many catalogs, so fallbacks need second rounds.
    providers = PROVIDERS[: rnd.randint(1, len(PROVIDERS))]
    n_models = rnd.randint(n_tasks, 30)
    modalities = sorted({t.modality for t in tasks})
    models = [_model(rnd, i, tasks, modalities, providers) for i in range(n_models)]
    return build(models, tasks)


def _model(
    rnd: random.Random, i: int, tasks: list[Task], modalities: list[Modality], providers: Sequence[Provider]
) -> Model:
    # The first models anchor one task each, enabled, so every task is served.
    anchor = tasks[i] if i < len(tasks) else None
    modality = anchor.modality if anchor else rnd.choice(modalities)
    same = [t for t in tasks if t.modality == modality]
    served = _subset(rnd, same, 0.6) or [rnd.choice(same)]
    if anchor is not None and anchor not in served:
        served.append(anchor)
    required = {c for t in served for c in t.required_capabilities}
    provider = rnd.choice(providers)
    context = rnd.choice(CONTEXTS) if modality == "text" else rnd.choice((None, None, 4096))
    return make_model(
        f"{provider}/m{i}",
        provider,
        tier=rnd.choice(TIER_VALUES),
        speed=rnd.choice(SPEED_VALUES),
        tasks=[t.id for t in served],
        modality=modality,
        caps=sorted(set(_subset(rnd, CAPS, 0.6)) | required),
        domains=_subset(rnd, DOMAINS, 0.3),
        context=context,
        price=rnd.choice(PRICES),
        enabled=anchor is not None or rnd.random() < 0.85,
        aliases=(f"alias-{i}",) if rnd.random() < 0.5 else (),
        required_inputs=_subset(rnd, REQUIRED_INPUTS, 0.1),
    )


@st.composite
def requests(draw: st.DrawFn, catalog: Catalog) -> SelectionRequest:
    """Requests against `catalog`: mostly satisfiable, sometimes contradictory."""
    rnd = random.Random(draw(_SEED))
    names: list[str] = []
    for m in catalog.data.models:
        names += [m.id, m.provider_id, *m.aliases]
    providers = sorted({m.provider for m in catalog.data.models})
    return SelectionRequest(
        task=rnd.choice(sorted(catalog.tasks)),
        tier=rnd.choice((None, *TIER_VALUES)),
        speed=rnd.choice(SPEED_VALUES) if rnd.random() < 0.2 else None,
        domains=tuple(_subset(rnd, DOMAINS, 0.25, limit=2)),
        domains_required=rnd.random() < 0.2,
        capabilities=tuple(_subset(rnd, CAPS, 0.1)),
        providers_allow=tuple(_subset(rnd, PROVIDERS, 0.5)) if rnd.random() < 0.25 else (),
        providers_deny=tuple(_subset(rnd, providers, 0.25)) if rnd.random() < 0.3 else (),
        min_context=rnd.choice((0, 1, 8_000, 20_000, 128_000, 2_000_000)) if rnd.random() < 0.3 else None,
        allow_downgrade=rnd.random() < 0.4,
        max_fallbacks=rnd.choice((3, 3, 3, -1, 0, 1, 2, 5, 8, 10)),
        explain=rnd.random() < 0.3,
        model=rnd.choice(names) if rnd.random() < 0.25 else None,
        inputs=tuple(_subset(rnd, REQUIRED_INPUTS, 0.5)) if rnd.random() < 0.5 else (),
    )


@st.composite
def health_snapshots(draw: st.DrawFn) -> HealthSnapshot:
    rnd = random.Random(draw(_SEED))
    states: dict[str, BreakerState] = {}
    scores: dict[str, float] = {}
    all_broken = rnd.random() < 0.15  # exercise "every candidate unhealthy"
    for provider in PROVIDERS:
        state: BreakerState | None = "open" if all_broken else rnd.choice((None, None, "closed", "half_open", "open"))
        if state is not None:
            states[provider] = state
        if rnd.random() < 0.3:
            scores[provider] = rnd.choice((0.0, 0.25, 0.9))
    if rnd.random() < 0.3:
        return HealthSnapshot()
    return HealthSnapshot(states, scores=scores)
