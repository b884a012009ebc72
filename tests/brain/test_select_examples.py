"""`brain.select` on small hand-built catalogs: one behaviour per test."""

from __future__ import annotations

import msgspec
import pytest

from brain import (
    HEALTHY,
    HealthSnapshot,
    Index,
    ModelNotForTask,
    NoCandidate,
    Selection,
    SelectionRequest,
    UnknownModel,
    UnknownTask,
    index_for,
    select,
)
from catalog import Catalog
from catalog.schema import PROVIDERS, Plan, PlanStep
from tests.brain.catalogs import build, make_model, make_task


def ids(sel: Selection) -> list[str]:
    return [sel.model.id, *(m.id for m in sel.fallbacks)]


def choose(catalog: Catalog, health: HealthSnapshot = HEALTHY, /, **fields: object) -> Selection:
    fields.setdefault("task", "chat")
    return select(Index(catalog), msgspec.convert(fields, SelectionRequest), health)


# Extra request fields that change no answer in these tests but send the request down each
# of the selector's code paths: precomputed bests, the global walk under per-model rules,
# the per-provider walk (forced by an allow-list naming every provider), domain ranking.
PATHS = pytest.mark.parametrize(
    "path",
    [
        {},
        {"min_context": 1},
        {"min_context": 1, "providers_allow": list(PROVIDERS)},
        {"domains": ["astrology"]},
    ],
    ids=["precomputed", "walk", "per-provider", "domains"],
)


@pytest.fixture
def tiers() -> Catalog:
    """chat (default strong): one model per tier, each on its own provider."""
    return build(
        [
            make_model("openai/big", "openai", tier="flagship"),
            make_model("anthropic/mid", "anthropic", tier="strong"),
            make_model("groq/small", "groq", tier="draft"),
        ]
    )


@PATHS
def test_default_tier_comes_from_the_task(tiers: Catalog, path: dict[str, object]) -> None:
    sel = choose(tiers, **path)
    assert sel.model.id == "anthropic/mid"
    assert sel.tier_requested == "strong" and sel.tier_used == "strong"
    # Fallbacks may be higher than the base tier, never lower.
    assert ids(sel) == ["anthropic/mid", "openai/big"]
    assert sel.notes == ()


def test_tier_upgrade_is_noted_and_explained() -> None:
    catalog = build(
        [make_model("openai/big", "openai", tier="flagship"), make_model("anthropic/mid", "anthropic", tier="strong")],
        [make_task("chat", default_tier="draft")],
    )
    sel = choose(catalog, explain=True)
    assert sel.model.id == "anthropic/mid" and sel.tier_used == "strong"
    assert sel.notes == ("no draft model fits the request: tier raised to strong",)
    assert sel.explain is not None
    assert sel.explain.requested_tier == "draft" and sel.explain.base_tier == "strong"
    assert any("went up to strong" in reason for reason in sel.explain.reasons)


def test_never_below_the_requested_tier_without_opt_in(tiers: Catalog) -> None:
    catalog = build(
        [make_model("anthropic/mid", "anthropic", tier="strong"), make_model("groq/small", "groq", tier="draft")]
    )
    with pytest.raises(NoCandidate) as caught:
        choose(catalog, tier="flagship")
    assert caught.value.constraint == "tier"
    assert "below tier flagship" in caught.value.message
    # With the opt-in, the highest tier below is used, and nothing lower joins the chain.
    sel = choose(catalog, tier="flagship", allow_downgrade=True)
    assert ids(sel) == ["anthropic/mid"]
    assert sel.notes == ("no model at or above flagship fits: downgraded to strong (allow_downgrade)",)
    # allow_downgrade changes nothing while something at or above the floor fits.
    assert ids(choose(tiers, tier="strong", allow_downgrade=True)) == ["anthropic/mid", "openai/big"]


def test_explain_lists_every_considered_model_with_the_rule_that_removed_it() -> None:
    catalog = build(
        [
            make_model("openai/best", "openai", speed="fast", domains=["legal"], caps=["tools"]),
            make_model("gemini/second", "gemini", speed="fast", domains=["legal"], caps=["tools"], price=2.0),
            make_model("openai/off", "openai", enabled=False, caps=["tools"]),
            make_model("openai/no-tools", "openai"),
            make_model("groq/denied", "groq", caps=["tools"]),
            make_model("fal/not-allowed", "fal", caps=["tools"]),
            make_model("openai/short", "openai", caps=["tools"], context=8_000),
            make_model("openai/slow", "openai", caps=["tools"], speed="slow"),
            make_model("openai/no-legal", "openai", caps=["tools"], speed="fast"),
            make_model("openai/cheap", "openai", caps=["tools"], speed="fast", domains=["legal"], tier="draft"),
        ]
    )
    sel = choose(
        catalog,
        capabilities=["tools"],
        providers_deny=["groq"],
        providers_allow=["openai", "gemini", "groq"],
        min_context=32_000,
        speed="fast",
        domains=["legal"],
        domains_required=True,
        explain=True,
    )
    assert sel.explain is not None
    verdicts = {c.id: (c.kept, c.removed_by, c.rank) for c in sel.explain.considered}
    assert verdicts == {
        "openai/best": (True, None, 1),
        "gemini/second": (True, None, 2),
        "openai/off": (False, "disabled", None),
        "openai/no-tools": (False, "capabilities", None),
        "groq/denied": (False, "providers.deny", None),
        "fal/not-allowed": (False, "providers.allow", None),
        "openai/short": (False, "min_context", None),
        "openai/slow": (False, "speed", None),
        "openai/no-legal": (False, "domains", None),
        "openai/cheap": (False, "tier", None),
    }
    # Kept models come first, in rank order.
    assert [c.id for c in sel.explain.considered[:2]] == ["openai/best", "gemini/second"]
    assert sel.explain.rules[-1] == "tier"
    assert sel.explain.reasons[-1] == "ranked ahead of gemini/second on price"
    assert "its provider openai is healthy (breaker closed)" in sel.explain.reasons


def test_explain_is_absent_unless_asked(tiers: Catalog) -> None:
    assert choose(tiers).explain is None


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"providers_deny": ["openai", "anthropic", "groq"]}, "providers.deny"),
        ({"providers_allow": ["gemini"]}, "providers.allow"),
        ({"min_context": 500_000}, "min_context"),
        ({"capabilities": ["vision"]}, "capabilities"),
        ({"speed": "fast"}, "speed"),
        ({"domains": ["legal"], "domains_required": True}, "domains"),
        ({"tier": "flagship", "providers_deny": ["openai"]}, "tier"),
    ],
)
def test_no_candidate_names_the_constraint_that_removed_the_last_candidates(
    tiers: Catalog, fields: dict[str, object], constraint: str
) -> None:
    with pytest.raises(NoCandidate) as caught:
        choose(tiers, **fields)
    assert caught.value.constraint == constraint
    assert caught.value.code == "no_candidate" and caught.value.task == "chat"
    assert "'chat'" in caught.value.message


def test_disabled_everywhere_is_named() -> None:
    models = [
        make_model("openai/on", "openai"),
        make_model("openai/off", "openai", tasks=["chat", "other"], enabled=False),
    ]
    catalog = build(models, [make_task("chat"), make_task("other")], check=False)  # the loader refuses this
    with pytest.raises(NoCandidate) as caught:
        choose(catalog, task="other")
    assert caught.value.constraint == "disabled"


def test_unknown_task_lists_the_known_tasks_and_points_plans_elsewhere() -> None:
    step = PlanStep(id="write", task="chat", description="Write.")
    catalog = build([make_model("openai/a")], plans=[Plan(id="essay", description="An essay.", steps=(step,))])
    with pytest.raises(UnknownTask) as caught:
        choose(catalog, task="nope")
    assert caught.value.known == ["chat"] and caught.value.code == "unknown_task"
    with pytest.raises(UnknownTask, match="is a plan"):
        choose(catalog, task="essay")


@PATHS
def test_a_pinned_name_resolves_to_the_canonical_model_and_keeps_a_chain(path: dict[str, object]) -> None:
    catalog = build(
        [
            make_model("openai/big", "openai", tier="flagship", aliases=["big"]),
            make_model("anthropic/top", "anthropic", tier="flagship"),
            make_model("anthropic/mid", "anthropic", tier="strong"),
            make_model("groq/small", "groq", tier="draft", provider_id="groq/llama-8b"),
        ]
    )
    sel = choose(catalog, model="big", **path)
    assert sel.model.id == "openai/big"
    # With no tier given, the pin's own tier is the floor for its fallbacks.
    assert ids(sel) == ["openai/big", "anthropic/top"]
    assert sel.notes == ("pinned model 'openai/big' is the primary",)
    # A pin is honoured whatever its tier and rank: the tier policy ranks the fallbacks.
    sel = choose(catalog, model="groq/llama-8b", tier="strong", **path)
    assert ids(sel) == ["groq/small", "anthropic/mid", "openai/big", "anthropic/top"]


@PATHS
def test_a_pin_with_no_fallbacks_is_alone(tiers: Catalog, path: dict[str, object]) -> None:
    assert ids(choose(tiers, model="openai/big", max_fallbacks=0, **path)) == ["openai/big"]


@PATHS
def test_a_pins_provider_comes_back_only_after_the_others(path: dict[str, object]) -> None:
    catalog = build(
        [
            make_model("openai/a1", "openai", price=0.9),
            make_model("openai/a2", "openai", price=0.1),
            make_model("anthropic/b", "anthropic", price=0.5),
            make_model("gemini/c", "gemini", price=0.7),
        ]
    )
    assert ids(choose(catalog, model="openai/a1", max_fallbacks=2, **path)) == ["openai/a1", "anthropic/b", "gemini/c"]
    assert ids(choose(catalog, model="openai/a1", max_fallbacks=8, **path)) == [
        "openai/a1",
        "anthropic/b",
        "gemini/c",
        "openai/a2",
    ]


def test_a_pin_that_fails_a_rule_is_ignored_with_a_note() -> None:
    catalog = build(
        [
            make_model("openai/big", "openai", tier="strong"),
            make_model("anthropic/mid", "anthropic", tier="strong", price=5.0),
            make_model("openai/off", "openai", tier="strong", enabled=False),
        ]
    )
    sel = choose(catalog, model="openai/big", providers_deny=["openai"])
    assert sel.model.id == "anthropic/mid"
    assert "pinned model 'openai/big' not used: removed by providers.deny" in sel.notes
    assert choose(catalog, model="openai/off").notes[0] == "pinned model 'openai/off' not used: removed by disabled"


def test_pinned_errors(tiers: Catalog) -> None:
    catalog = build(
        [make_model("openai/a", "openai", tasks=["chat"]), make_model("openai/e", "openai", tasks=["other"])],
        [make_task("chat"), make_task("other")],
    )
    with pytest.raises(UnknownModel) as unknown:
        choose(catalog, model="gpt-nothing")
    assert unknown.value.code == "unknown_model" and unknown.value.param == "model"
    with pytest.raises(ModelNotForTask) as wrong:
        choose(catalog, model="openai/e-pid")
    assert wrong.value.model_id == "openai/e" and wrong.value.serves == ("other",)


@PATHS
def test_fallbacks_visit_every_provider_before_a_second_model_of_one(path: dict[str, object]) -> None:
    catalog = build(
        [
            make_model("openai/a1", "openai", price=0.1),
            make_model("openai/a2", "openai", price=0.2),
            make_model("openai/a3", "openai", price=0.3),
            make_model("anthropic/b1", "anthropic", price=0.4),
            make_model("anthropic/b2", "anthropic", price=0.45),
            make_model("gemini/c1", "gemini", price=0.5),
        ]
    )
    assert ids(choose(catalog, **path)) == ["openai/a1", "anthropic/b1", "gemini/c1", "openai/a2"]
    assert ids(choose(catalog, max_fallbacks=8, **path)) == [
        "openai/a1",
        "anthropic/b1",
        "gemini/c1",
        "openai/a2",
        "anthropic/b2",
        "openai/a3",
    ]
    assert ids(choose(catalog, max_fallbacks=0, **path)) == ["openai/a1"]


def test_max_fallbacks_is_clamped() -> None:
    catalog = build([make_model(f"openai/m{i:02}", "openai", price=float(i)) for i in range(12)])
    oversized = SelectionRequest(task="chat", max_fallbacks=20)  # built in code: no validation
    assert len(select(catalog, oversized).fallbacks) == 8
    assert select(catalog, SelectionRequest(task="chat", max_fallbacks=-4)).fallbacks == ()


def test_ranking_prefers_fast_then_cheap_then_id() -> None:
    catalog = build(
        [
            make_model("openai/slow-cheap", "openai", speed="slow", price=0.1),
            make_model("anthropic/fast-dear", "anthropic", speed="fast", price=9.0),
            make_model("gemini/fast-cheap-b", "gemini", speed="fast", price=1.0),
            make_model("groq/fast-cheap-a", "groq", speed="fast", price=1.0),
            make_model("together/fast-unpriced", "together", speed="fast", price=None),
        ]
    )
    assert ids(choose(catalog, max_fallbacks=4)) == [
        "gemini/fast-cheap-b",  # ties with groq/fast-cheap-a on speed and price; id decides
        "groq/fast-cheap-a",
        "anthropic/fast-dear",
        "together/fast-unpriced",  # unknown price ranks after every known one
        "openai/slow-cheap",
    ]


def test_domains_rank_unless_required() -> None:
    catalog = build(
        [
            make_model("openai/general", "openai", price=0.1),
            make_model("anthropic/legal", "anthropic", domains=["legal"], price=5.0),
            make_model("gemini/legal-finance", "gemini", domains=["legal", "finance"], price=9.0),
        ]
    )
    assert ids(choose(catalog, domains=["legal", "finance"])) == [
        "gemini/legal-finance",
        "anthropic/legal",
        "openai/general",
    ]
    assert ids(choose(catalog, domains=["legal"], domains_required=True)) == ["anthropic/legal", "gemini/legal-finance"]


def test_min_context_spares_non_text_models_without_a_window() -> None:
    catalog = build(
        [
            make_model("fal/img", "fal", modality="image", tasks=["draw"], context=None),
            make_model("openai/img", "openai", modality="image", tasks=["draw"], context=1_000),
            make_model("openai/chat", "openai", context=None),
        ],
        [make_task("draw", modality="image"), make_task("chat")],
    )
    assert ids(choose(catalog, task="draw", min_context=4_000)) == ["fal/img"]
    with pytest.raises(NoCandidate) as caught:
        choose(catalog, min_context=10)
    assert caught.value.constraint == "min_context"
    # 0 is what an empty conversation estimates to: no constraint at all.
    assert ids(choose(catalog, min_context=0)) == ["openai/chat"]


@PATHS
def test_unhealthy_providers_drop_behind_half_open_between(path: dict[str, object]) -> None:
    catalog = build(
        [
            make_model("openai/a", "openai", price=0.1),
            make_model("anthropic/b", "anthropic", price=0.2),
            make_model("gemini/c", "gemini", price=0.3),
        ]
    )
    health = HealthSnapshot({"openai": "open", "anthropic": "half_open"})
    assert ids(choose(catalog, health, **path)) == ["gemini/c", "anthropic/b", "openai/a"]


def test_when_every_provider_is_unhealthy_the_healthiest_is_still_chosen() -> None:
    catalog = build([make_model("openai/a", "openai", price=0.1), make_model("anthropic/b", "anthropic", price=0.2)])
    health = HealthSnapshot({"openai": "open", "anthropic": "open"}, scores={"anthropic": 0.9})
    sel = choose(catalog, health)
    assert ids(sel) == ["anthropic/b", "openai/a"]  # the score orders providers within "open"
    assert sel.notes == ("every candidate provider is unhealthy; anthropic (open) is the healthiest",)


@PATHS
def test_health_outranks_tier_match_but_never_the_floor(tiers: Catalog, path: dict[str, object]) -> None:
    sel = choose(tiers, HealthSnapshot({"anthropic": "open"}), **path)
    assert ids(sel) == ["openai/big", "anthropic/mid"]  # groq/small (draft) never joins
    assert sel.notes == ("every strong candidate's provider is unhealthy: using flagship",)


def test_select_accepts_a_catalog_and_caches_its_index(tiers: Catalog) -> None:
    assert index_for(tiers) is index_for(tiers)
    assert select(tiers, SelectionRequest(task="chat")) == select(Index(tiers), SelectionRequest(task="chat"))


def test_selection_encodes_to_json(tiers: Catalog) -> None:
    sel = choose(tiers, explain=True)
    decoded = msgspec.json.decode(msgspec.json.encode(sel))
    assert decoded["model"]["id"] == "anthropic/mid"
    assert decoded["explain"]["considered"][0] == {
        "id": "anthropic/mid",
        "provider": "anthropic",
        "tier": "strong",
        "speed": "medium",
        "kept": True,
        "removed_by": None,
        "rank": 1,
    }
