"""Models that require an input (an image to animate, a HeyGen avatar): never chosen for a
request without it, `explain` says why, chosen when the input is there. On the real catalog,
whose video_generate candidates include such models."""

from __future__ import annotations

import pytest

from brain import NoCandidate, SelectionRequest, index_for, select
from catalog import Catalog, load_catalog
from tests.brain.catalogs import build, make_model, make_task

GEN4_TURBO = "runwayml/gen4_turbo"
NEEDS_IMAGE = {GEN4_TURBO, "pika/fal-ai/pika/v2.2/image-to-video", "pika/fal-ai/pika/v2.1/image-to-video"}
NEEDS_AVATAR = {"heygen/avatar-iii", "heygen/avatar-iv"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def chain(catalog: Catalog, **fields: object) -> list[str]:
    request = SelectionRequest(task="video_generate", max_fallbacks=8, **fields)  # type: ignore[arg-type]
    selection = select(index_for(catalog), request)
    return [selection.model.id, *(m.id for m in selection.fallbacks)]


@pytest.mark.parametrize("tier", ["draft", "strong", "flagship"])
def test_a_model_requiring_an_image_is_never_chosen_without_one(catalog: Catalog, tier: str) -> None:
    for explain in (False, True):  # the fast walk and the plain evaluation
        picked = set(chain(catalog, tier=tier, explain=explain, allow_downgrade=True))
        assert not picked & (NEEDS_IMAGE | NEEDS_AVATAR), picked


def test_explain_names_the_inputs_rule(catalog: Catalog) -> None:
    request = SelectionRequest(task="video_generate", tier="draft", explain=True)
    why = select(index_for(catalog), request).explain
    assert why is not None and "inputs" in why.rules
    removed = {c.id: c.removed_by for c in why.considered if not c.kept}
    for model_id in NEEDS_IMAGE | NEEDS_AVATAR:
        assert removed[model_id] == "inputs"


def test_with_an_image_the_model_may_be_chosen(catalog: Catalog) -> None:
    # gen4_turbo is the draft tier's fast, cheap image-to-video model: first once it qualifies.
    assert chain(catalog, tier="draft", inputs=("image",), capabilities=("image_to_video",))[0] == GEN4_TURBO
    assert GEN4_TURBO in chain(catalog, tier="draft", inputs=("image",))


def test_a_pin_on_a_model_whose_input_is_missing_is_not_honoured(catalog: Catalog) -> None:
    request = SelectionRequest(task="video_generate", model=GEN4_TURBO)
    selection = select(index_for(catalog), request)
    assert selection.model.id != GEN4_TURBO
    assert f"pinned model {GEN4_TURBO!r} not used: removed by inputs" in selection.notes


def test_nothing_left_but_models_needing_an_input_names_the_input() -> None:
    small = build(
        [
            make_model("fal/animate", "fal", modality="image", tasks=["animate"], required_inputs=["image"]),
            make_model("openai/animate", "openai", modality="image", tasks=["animate"], required_inputs=["image"]),
        ],
        [make_task("animate", modality="image")],
    )
    with pytest.raises(NoCandidate) as raised:
        select(index_for(small), SelectionRequest(task="animate"))
    assert raised.value.constraint == "inputs"
    assert "require an input the request lacks (image)" in str(raised.value)
    assert select(index_for(small), SelectionRequest(task="animate", inputs=("image",))).model.id == "fal/animate"
