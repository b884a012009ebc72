"""One test per catalog rule, each on a small catalog broken in exactly one way."""

from __future__ import annotations

import copy
import json
from itertools import pairwise
from typing import Any

import pytest

from catalog import CatalogError, parse_catalog


def small_catalog() -> dict[str, Any]:
    def model(mid: str, provider: str, tier: str, tasks: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "id": mid,
            "provider": provider,
            "provider_id": mid,
            "modality": "text",
            "inputs": ["text"],
            "outputs": ["text"],
            "tasks": tasks,
            "tier": tier,
            "speed": "fast",
            "capabilities": ["streaming", "json_mode"],
            "context_window": 128000,
            "pricing": {"unit": "usd_per_1m_tokens", "input": 1.0, "output": 2.0},
            **extra,
        }

    return {
        "version": "test",
        "tasks": [
            {
                "id": "chat_general",
                "modality": "text",
                "default_tier": "strong",
                "queue": "interactive",
                "description": "General chat.",
            },
            {
                "id": "summarize",
                "modality": "text",
                "default_tier": "draft",
                "queue": "interactive",
                "description": "Summaries.",
                "required_capabilities": ["json_mode"],
            },
        ],
        "models": [
            model("openai/gpt-4o", "openai", "flagship", ["chat_general", "summarize"], aliases=["gpt-4o"]),
            model("groq/llama-3.1-8b-instant", "groq", "draft", ["chat_general", "summarize"]),
        ],
        "plans": [
            {
                "id": "two_step",
                "description": "Chat then summarize.",
                "steps": [
                    {
                        "id": "draft",
                        "task": "chat_general",
                        "description": "Write.",
                        "inputs": [{"name": "prompt", "source": "request.input"}],
                    },
                    {
                        "id": "short",
                        "task": "summarize",
                        "description": "Shorten.",
                        "depends_on": ["draft"],
                        "inputs": [{"name": "text", "source": "steps.draft.output"}],
                    },
                ],
            },
        ],
    }


def refuse(data: dict[str, Any]) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(json.dumps(data).encode())
    return caught.value


def test_small_catalog_is_valid() -> None:
    catalog = parse_catalog(json.dumps(small_catalog()).encode())
    assert catalog.resolve("gpt-4o") is catalog.models["openai/gpt-4o"]
    assert catalog.version.startswith("test+")


def test_unknown_field_is_refused_with_its_path() -> None:
    data = small_catalog()
    data["models"][1]["colour"] = "blue"
    error = refuse(data)
    assert error.path == "$.models[1]"
    assert "unknown field `colour`" in error.problem


def test_wrong_type_is_refused_with_its_path() -> None:
    data = small_catalog()
    data["models"][0]["context_window"] = "big"
    error = refuse(data)
    assert error.path == "$.models[0].context_window"
    assert "Expected `int | null`, got `str`" in error.problem


def test_unknown_enum_value_is_refused_with_its_path() -> None:
    data = small_catalog()
    data["models"][0]["tier"] = "premium"
    error = refuse(data)
    assert error.path == "$.models[0].tier"
    assert "'premium'" in error.problem or "premium" in error.problem


def test_missing_required_field_is_refused() -> None:
    data = small_catalog()
    del data["models"][1]["provider"]
    error = refuse(data)
    assert error.path == "$.models[1]"
    assert "missing required field `provider`" in error.problem


def test_invalid_json_is_refused() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(b'{"version": "x", ')
    assert caught.value.path == "$"
    assert "not valid JSON" in caught.value.problem


def test_duplicate_model_id_is_refused() -> None:
    data = small_catalog()
    twin = copy.deepcopy(data["models"][0])
    twin["provider_id"] = "openai/other"
    twin["aliases"] = []
    data["models"].append(twin)
    error = refuse(data)
    assert error.path == "$.models[2].id"
    assert "duplicate name 'openai/gpt-4o'" in error.problem
    assert "$.models[0].id" in error.problem


def test_duplicate_provider_id_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["provider_id"] = "openai/gpt-4o"
    error = refuse(data)
    assert error.path == "$.models[1].provider_id"
    assert "duplicate name 'openai/gpt-4o'" in error.problem


def test_duplicate_alias_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["aliases"] = ["gpt-4o"]
    error = refuse(data)
    assert error.path == "$.models[1].aliases[0]"
    assert "already used at $.models[0].aliases[0]" in error.problem


def test_alias_listed_twice_on_one_model_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["aliases"] = ["llama", "llama"]
    error = refuse(data)
    assert error.path == "$.models[1].aliases[1]"
    assert "listed twice" in error.problem


def test_model_naming_unknown_task_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["tasks"] = ["chat_general", "poetry"]
    error = refuse(data)
    assert error.path == "$.models[1].tasks[1]"
    assert error.problem == "unknown task 'poetry'"


def test_model_of_wrong_modality_for_task_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["modality"] = "image"
    error = refuse(data)
    assert error.path == "$.models[1].tasks[0]"
    assert "task 'chat_general' is text" in error.problem


def test_model_lacking_task_capability_is_refused() -> None:
    data = small_catalog()
    data["models"][1]["capabilities"] = ["streaming"]
    error = refuse(data)
    assert error.path == "$.models[1].tasks[1]"
    assert "requires capabilities ['json_mode']" in error.problem


def test_task_served_by_no_model_is_refused() -> None:
    data = small_catalog()
    data["tasks"].append(
        {
            "id": "translate",
            "modality": "text",
            "default_tier": "strong",
            "queue": "interactive",
            "description": "Translation.",
        }
    )
    error = refuse(data)
    assert error.path == "$.tasks[2]"
    assert "task 'translate' is served by no enabled model" in error.problem


def test_task_served_only_by_disabled_models_is_refused() -> None:
    data = small_catalog()
    for model in data["models"]:
        model["tasks"] = ["chat_general"]
    data["models"].append(
        {
            **copy.deepcopy(data["models"][0]),
            "id": "x/sum",
            "provider_id": "x/sum",
            "aliases": [],
            "tasks": ["summarize"],
            "enabled": False,
        }
    )
    error = refuse(data)
    assert error.path == "$.tasks[1]"


def test_duplicate_task_id_is_refused() -> None:
    data = small_catalog()
    data["tasks"].append(copy.deepcopy(data["tasks"][0]))
    error = refuse(data)
    assert error.path == "$.tasks[2].id"
    assert "duplicate task id 'chat_general'" in error.problem


def test_plan_step_with_unknown_task_is_refused() -> None:
    data = small_catalog()
    data["plans"][0]["steps"][1]["task"] = "dance"
    error = refuse(data)
    assert error.path == "$.plans[0].steps[1].task"
    assert error.problem == "unknown task 'dance'"


def test_plan_with_cycle_is_refused_with_the_cycle() -> None:
    data = small_catalog()
    data["plans"][0]["steps"][0]["depends_on"] = ["short"]
    error = refuse(data)
    assert error.path == "$.plans[0].steps"
    assert "dependency cycle:" in error.problem
    assert "draft" in error.problem and "short" in error.problem


def test_a_cycle_is_named_step_by_step_each_depending_on_the_next() -> None:
    data = small_catalog()
    steps = data["plans"][0]["steps"]
    steps.append({"id": "polish", "task": "chat_general", "description": "Polish.", "depends_on": ["short"]})
    steps[0]["depends_on"] = ["polish"]
    problem = refuse(data).problem
    assert problem.startswith("dependency cycle: ")
    cycle = problem.removeprefix("dependency cycle: ").split(" -> ")
    depends_on = {step["id"]: step.get("depends_on", []) for step in steps}
    assert len(cycle) == 4 and cycle[0] == cycle[-1] and set(cycle) == {"draft", "short", "polish"}
    assert all(later in depends_on[step] for step, later in pairwise(cycle))


def test_plan_depending_on_unknown_step_is_refused() -> None:
    data = small_catalog()
    data["plans"][0]["steps"][1]["depends_on"] = ["nowhere"]
    error = refuse(data)
    assert error.path == "$.plans[0].steps[1].depends_on[0]"


def test_plan_reading_a_step_it_does_not_depend_on_is_refused() -> None:
    data = small_catalog()
    data["plans"][0]["steps"][1]["depends_on"] = []
    error = refuse(data)
    assert error.path == "$.plans[0].steps[1].inputs[0].source"
    assert "not in depends_on" in error.problem


def test_plan_id_that_is_also_a_task_is_refused() -> None:
    data = small_catalog()
    data["plans"][0]["id"] = "summarize"
    error = refuse(data)
    assert error.path == "$.plans[0].id"


def test_bundled_catalog_covers_every_provider_and_serves_every_task(catalog: Any) -> None:
    from catalog.schema import PROVIDERS

    assert set(PROVIDERS) <= catalog.providers
    assert len(catalog.models) >= 45
    for task_id in catalog.tasks:
        assert any(m.enabled for m in catalog.models_for_task(task_id)), task_id
    for required in (
        "chat_general",
        "rag_rewrite",
        "rag_answer",
        "summarize",
        "code_generate",
        "extract_json",
        "translate",
        "embed_text",
        "image_generate",
        "video_generate",
        "tts",
        "transcribe",
    ):
        assert required in catalog.tasks
    modalities = {m.modality for m in catalog.models.values()}
    assert modalities == {"text", "embedding", "image", "video", "audio"}


def test_a_plan_may_hold_worker_steps_and_refuses_an_input_they_do_not_take() -> None:
    data = small_catalog()
    steps = data["plans"][0]["steps"]
    steps.append(
        {
            "id": "rank",
            "task": "rank_documents",
            "description": "Rank.",
            "depends_on": ["short"],
            "inputs": [
                {"name": "query", "source": "steps.short.output"},
                {"name": "documents", "source": "request.input.documents"},
                {"name": "texts", "source": "request.input.documents"},
            ],
        }
    )
    # A worker step's `query` takes vectors: a summary's text cannot be converted to them.
    error = refuse(data)
    assert error.path == "$.plans[0].steps[2].inputs[0].source"
    assert "input 'query'" in error.problem and "is text" in error.problem
    steps[-1]["inputs"] = steps[-1]["inputs"][1:]
    error = refuse(data)
    assert error.path == "$.plans[0].steps[2].inputs" and "needs input 'query'" in error.problem


def test_a_task_may_not_take_a_worker_steps_name() -> None:
    data = small_catalog()
    data["tasks"].append({**data["tasks"][0], "id": "combine_video_audio"})
    data["models"][0]["tasks"].append("combine_video_audio")
    error = refuse(data)
    assert error.path == "$.tasks" and "'combine_video_audio' is the name of a worker step" in error.problem
