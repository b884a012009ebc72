"""`brain.plan_for` on a small catalog with one plan."""

from __future__ import annotations

import msgspec
import pytest

from brain import (
    HealthSnapshot,
    Index,
    ModelNotForTask,
    NoCandidate,
    PlanResult,
    SelectionRequest,
    UnknownModel,
    UnknownTask,
    plan_for,
)
from catalog import Catalog
from catalog.schema import Plan, PlanStep, StepInput
from tests.brain.catalogs import build, make_model, make_task


@pytest.fixture
def podcast() -> Catalog:
    """A plan whose steps are declared out of dependency order: publish needs voice and cover."""
    steps = (
        PlanStep(
            id="voice",
            task="tts",
            description="Read the script.",
            depends_on=("script",),
            inputs=(StepInput(name="text", source="steps.script.output"),),
        ),
        PlanStep(
            id="cover",
            task="draw",
            description="Draw a cover.",
            inputs=(StepInput(name="prompt", source="request.input"),),
        ),
        PlanStep(
            id="script",
            task="chat",
            description="Write the script.",
            inputs=(StepInput(name="topic", source="request.input"),),
        ),
        PlanStep(
            id="publish",
            task="chat",
            description="Write show notes.",
            depends_on=("voice", "cover"),
            # Audio and an image cannot be read by a text model without vision: the plan
            # waits for them (depends_on) and writes from the request's topic.
            inputs=(StepInput(name="topic", source="request.input"),),
        ),
    )
    return build(
        [
            make_model("openai/writer", "openai", tier="strong", price=1.0),
            make_model("anthropic/writer", "anthropic", tier="strong", price=2.0),
            make_model("openai/painter", "openai", modality="image", tasks=["draw"], context=None),
            make_model("fal/painter", "fal", modality="image", tasks=["draw"], context=None, price=0.5),
            make_model("elevenlabs/voice", "elevenlabs", modality="audio", tasks=["tts"], context=None),
        ],
        [
            make_task("chat"),
            make_task("draw", modality="image"),
            make_task("tts", modality="audio"),
        ],
        [Plan(id="podcast", description="A podcast episode.", steps=steps)],
    )


def plan(catalog: Catalog, health: HealthSnapshot | None = None, /, **fields: object) -> PlanResult:
    fields.setdefault("task", "podcast")
    request = msgspec.convert(fields, SelectionRequest)
    return plan_for(Index(catalog), request, health or HealthSnapshot())


def test_steps_come_in_a_stable_topological_order(podcast: Catalog) -> None:
    result = plan(podcast)
    assert result.plan == "podcast" and result.description == "A podcast episode."
    # cover is ready first (declared before script); voice waits for script; publish last.
    assert [s.id for s in result.steps] == ["cover", "script", "voice", "publish"]
    publish = result.steps[-1]
    assert publish.depends_on == ("voice", "cover")
    assert [(i.name, i.source) for i in publish.inputs] == [("topic", "request.input")]


def test_each_step_gets_a_model_and_fallbacks_for_its_own_task(podcast: Catalog) -> None:
    chosen = {s.id: (s.task, s.selection.model.id, [m.id for m in s.selection.fallbacks]) for s in plan(podcast).steps}
    assert chosen == {
        "cover": ("draw", "fal/painter", ["openai/painter"]),
        "script": ("chat", "openai/writer", ["anthropic/writer"]),
        "voice": ("tts", "elevenlabs/voice", []),
        "publish": ("chat", "openai/writer", ["anthropic/writer"]),
    }


def test_request_constraints_and_health_apply_to_every_step(podcast: Catalog) -> None:
    steps = {s.id: s.selection for s in plan(podcast, providers_deny=["openai"]).steps}
    assert steps["cover"].model.id == "fal/painter" and steps["cover"].fallbacks == ()
    assert steps["script"].model.id == "anthropic/writer"
    steps = {s.id: s.selection for s in plan(podcast, HealthSnapshot({"fal": "open"})).steps}
    assert steps["cover"].model.id == "openai/painter"


def test_a_step_without_candidates_fails_the_plan_naming_the_step(podcast: Catalog) -> None:
    with pytest.raises(NoCandidate) as caught:
        plan(podcast, providers_deny=["elevenlabs"])
    assert caught.value.step == "voice" and caught.value.task == "podcast"
    assert caught.value.constraint == "providers.deny"
    assert caught.value.message.startswith("plan 'podcast', step 'voice': ")


def test_a_pin_applies_to_the_steps_whose_task_it_serves(podcast: Catalog) -> None:
    steps = {s.id: s.selection for s in plan(podcast, model="anthropic/writer").steps}
    assert steps["script"].model.id == "anthropic/writer" and steps["publish"].model.id == "anthropic/writer"
    assert steps["cover"].model.id == "fal/painter"
    with pytest.raises(UnknownModel):
        plan(podcast, model="nothing")
    bare = build(
        [make_model("openai/a"), make_model("openai/e", tasks=["other"])], [make_task("chat"), make_task("other")]
    )
    with pytest.raises(ModelNotForTask):
        plan(bare, task="chat", model="openai/e")


def test_a_single_task_is_planned_as_one_step(podcast: Catalog) -> None:
    result = plan(podcast, task="draw")
    assert [(s.id, s.task, s.depends_on) for s in result.steps] == [("draw", "draw", ())]
    assert result.steps[0].selection.model.id == "fal/painter"


def test_unknown_names(podcast: Catalog) -> None:
    with pytest.raises(UnknownTask) as caught:
        plan(podcast, task="radio_show")
    assert caught.value.known == ["chat", "draw", "podcast", "tts"]


def test_plans_are_deterministic(podcast: Catalog) -> None:
    health = HealthSnapshot({"openai": "half_open"})
    first = msgspec.json.encode(plan(podcast, health, explain=True))
    assert first == msgspec.json.encode(plan(podcast, health, explain=True))
