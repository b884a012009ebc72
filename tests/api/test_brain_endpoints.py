"""select-model, orchestrate, models and tasks over real HTTP, with every kind of bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from catalog import Catalog
from tests.support.envelopes import assert_envelope


def select(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/api/select-model", json=body)


def test_select_model_answers_the_contract_shape(client: httpx.Client, catalog: Catalog) -> None:
    response = select(client, task="chat_general")
    assert response.status_code == 200
    body = response.json()
    assert body["task"] == "chat_general"
    assert set(body["model"]) == {"id", "provider", "provider_id", "modality", "tier", "speed"}
    assert body["model"]["tier"] == catalog.tasks["chat_general"].default_tier
    assert len(body["fallbacks"]) == 3
    assert all(set(f) == {"id", "provider", "provider_id"} for f in body["fallbacks"])
    assert body["catalog_version"] == catalog.version
    assert "explain" not in body
    ids = [body["model"]["id"], *(f["id"] for f in body["fallbacks"])]
    assert len(set(ids)) == len(ids)
    providers = [body["model"]["provider"], *(f["provider"] for f in body["fallbacks"])]
    assert len(set(providers)) == len(providers), "other providers come before a second model of one"


def test_select_model_is_deterministic(client: httpx.Client) -> None:
    request = {"task": "code_generate", "tier": "flagship", "explain": True, "fallbacks": 8}
    first = client.post("/api/select-model", json=request).content
    assert all(client.post("/api/select-model", json=request).content == first for _ in range(5))


def test_constraints_are_honoured(client: httpx.Client, catalog: Catalog) -> None:
    body = select(
        client, task="chat_general", tier="flagship", providers={"deny": ["openai", "anthropic"]}, fallbacks=8
    ).json()
    chain = [body["model"], *body["fallbacks"]]
    assert all(m["provider"] not in ("openai", "anthropic") for m in chain)
    assert all(catalog.models[m["id"]].tier == "flagship" for m in chain)
    only = select(client, task="chat_general", providers={"allow": ["groq"]}).json()
    assert {m["provider"] for m in [only["model"], *only["fallbacks"]]} == {"groq"}
    vision = select(client, task="chat_general", capabilities=["vision", "tools"]).json()
    assert {"vision", "tools"} <= set(catalog.models[vision["model"]["id"]].capabilities)


def test_min_context_is_estimated_from_messages(client: httpx.Client, catalog: Catalog) -> None:
    long_text = "word " * 150_000  # 750 kB, ~190k tokens: only long-context models qualify
    body = select(client, task="chat_general", messages=[{"role": "user", "content": long_text}], fallbacks=8).json()
    for model in [body["model"], *body["fallbacks"]]:
        assert (catalog.models[model["id"]].context_window or 0) >= 187_500


def test_pinning_by_alias_or_provider_id_resolves_to_the_canonical_id(client: httpx.Client, catalog: Catalog) -> None:
    model = next(m for m in catalog.models_for_task("chat_general") if m.aliases)
    for name in (model.aliases[0], model.provider_id, model.id):
        body = select(client, task="chat_general", model=name).json()
        assert body["model"]["id"] == model.id


def test_explain_lists_every_considered_model(client: httpx.Client, catalog: Catalog) -> None:
    body = select(client, task="tts", explain=True, providers={"deny": ["openai"]}).json()
    considered = body["explain"]["considered"]
    assert {c["id"] for c in considered} == {m.id for m in catalog.models_for_task("tts")}
    removed = {c["id"]: c["removed_by"] for c in considered if not c["kept"]}
    assert all(rule == "providers.deny" for mid, rule in removed.items() if catalog.models[mid].provider == "openai")
    assert body["explain"]["reasons"]


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        ({"task": "chat_general", "tier": "premium"}, "tier", "allowed values: flagship, strong, draft"),
        ({"task": "chat_general", "speed": "warp"}, "speed", "allowed values: fast, medium, slow"),
        ({"task": "chat_general", "capabilities": ["telepathy"]}, "capabilities[0]", "allowed values: streaming"),
        ({"task": "chat_general", "providers": {"deny": ["acme"]}}, "providers.deny[0]", "allowed values: openai"),
        ({"task": "chat_general", "fallbacks": 9}, "fallbacks", "<= 8"),
        ({"task": 42}, "task", "Expected `str`"),
        ({"task": "chat_general", "min_context": -1}, "min_context", ">= 1"),
        ({"task": "chat_general", "domains": ["x"] * 33}, "domains", "length <= 32"),
        ({"task": "chat_general", "teir": "draft"}, None, "unknown field `teir`"),
        ({}, None, "missing required field `task`"),
    ],
)
def test_bad_values_are_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], param: str | None, needle: str
) -> None:
    error = assert_envelope(client.post("/api/select-model", json=body), 422)
    assert error["param"] == param
    assert needle in error["message"]


def test_unknown_task_lists_the_known_tasks(client: httpx.Client, catalog: Catalog) -> None:
    error = assert_envelope(select(client, task="dance"), 422, "unknown_task")
    assert all(task in error["message"] for task in catalog.tasks)


def test_no_candidate_names_the_constraint(client: httpx.Client) -> None:
    too_long = select(client, task="chat_general", providers={"allow": ["openai"]}, min_context=100_000_000)
    error = assert_envelope(too_long, 422, "no_candidate")
    assert error["param"] == "min_context"
    error = assert_envelope(select(client, task="tts", providers={"allow": ["anthropic"]}), 422, "no_candidate")
    assert error["param"] == "providers.allow"


def test_unknown_or_wrong_pinned_model(client: httpx.Client, catalog: Catalog) -> None:
    assert_envelope(select(client, task="chat_general", model="acme/none"), 422, "unknown_model")
    # A name no catalog could declare is refused by the catalog's own name rule.
    assert (
        assert_envelope(select(client, task="chat_general", model="acme none"), 422, "invalid_value")["param"]
        == "model"
    )
    tts = catalog.models_for_task("tts")[0]
    assert assert_envelope(select(client, task="chat_general", model=tts.id), 422)["param"] == "model"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b'"chat_general"', b"null", b'{"task": "\xff\xfe"}', b'{"task": "chat_general"'],
)
def test_malformed_bodies_are_4xx_never_5xx(client: httpx.Client, raw: bytes) -> None:
    response = client.post("/api/select-model", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_unicode_junk_and_huge_arrays_are_4xx(client: httpx.Client) -> None:
    junk = select(client, task="chat_general\u0000\u202e\U0001f4a9")
    assert_envelope(junk, 422, "unknown_task")
    huge = client.post(
        "/api/select-model", content=json.dumps({"task": "chat_general", "capabilities": ["vision"] * 100_000})
    )
    assert 400 <= huge.status_code < 500
    too_big = client.post("/api/select-model", content=b'{"task": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert_envelope(too_big, 413, "body_too_large")


def test_orchestrate_returns_a_plan_in_dependency_order(client: httpx.Client, catalog: Catalog) -> None:
    response = client.post("/api/orchestrate", json={"task": "rag_pipeline", "input": "what is MPC?"})
    assert response.status_code == 200
    plan = response.json()
    assert plan["object"] == "plan" and plan["task"] == "rag_pipeline"
    steps = plan["steps"]
    assert [s["task"] for s in steps] == ["rag_rewrite", "embed_text", "embed_text", "rank_documents", "rag_answer"]
    seen: set[str] = set()
    for step in steps:
        assert set(step["depends_on"]) <= seen
        seen.add(step["id"])
        if step["task"] == "rank_documents":  # a worker step: no model, no provider call
            assert "model" not in step
            continue
        assert catalog.models[step["model"]["id"]].modality == catalog.tasks[step["task"]].modality
        assert all(i["source"].startswith(("request.", "steps.")) for i in step["inputs"])
    video = client.post("/api/orchestrate", json={"task": "video_with_voiceover", "tier": "strong"}).json()
    tasks = {s["task"] for s in video["steps"]}
    assert {"tts", "video_generate"} <= tasks


def test_orchestrate_single_task_and_errors(client: httpx.Client) -> None:
    single = client.post("/api/orchestrate", json={"task": "summarize"}).json()
    assert [s["task"] for s in single["steps"]] == ["summarize"]
    assert_envelope(client.post("/api/orchestrate", json={"task": "dance"}), 422, "unknown_task")
    # Anthropic serves the text steps but has no text-to-speech model: the audio step fails.
    no_voice = client.post("/api/orchestrate", json={"task": "podcast_episode", "providers": {"allow": ["anthropic"]}})
    error = assert_envelope(no_voice, 422, "no_candidate")
    assert error["param"] == "providers.allow" and "step 'audio'" in error["message"]
    # Executing checks the plan's bindings against the input first: nothing is enqueued.
    execute = client.post("/api/orchestrate", json={"task": "rag_pipeline", "execute": True})
    error = assert_envelope(execute, 422, "invalid_plan")
    assert error["param"] == "input.question" and "step 'rewrite'" in error["message"]


def test_models_list_and_filters(client: httpx.Client, catalog: Catalog) -> None:
    everything = client.get("/api/models")
    assert everything.headers["content-type"] == "application/json"
    body = everything.json()
    assert body["object"] == "list"
    models = [m for m in body["data"] if not m["id"].startswith("mpc/") and m["id"] != "auto"]
    assert len(models) == len(catalog.models)
    first = models[0]
    assert {"id", "object", "created", "owned_by", "provider", "tier", "tasks", "pricing"} <= set(first)
    assert first["object"] == "model"
    for query, check in [
        ({"task": "tts"}, lambda m: "tts" in m.get("tasks", [m.get("task")])),
        ({"modality": "video"}, lambda m: m["modality"] == "video" or m["id"] == "auto"),
        ({"tier": "draft"}, lambda m: m["tier"] == "draft"),
        ({"provider": "groq", "tier": "strong"}, lambda m: m["provider"] == "groq" and m["tier"] == "strong"),
    ]:
        data = client.get("/api/models", params=query).json()["data"]
        assert data and all(check(m) for m in data), query
    error = assert_envelope(client.get("/api/models", params={"tier": "gold"}), 422, "invalid_value")
    assert error["param"] == "tier" and "flagship" in error["message"]


def test_model_by_id_with_slashes_alias_and_provider_id(client: httpx.Client, catalog: Catalog) -> None:
    model = next(m for m in catalog.models.values() if m.id.count("/") >= 2 and m.aliases)
    for name in (model.id, model.aliases[0], model.provider_id):
        body = client.get(f"/api/models/{name}").json()
        assert body["id"] == model.id
    assert_envelope(client.get("/api/models/acme/none"), 404, "model_not_found")


def test_tasks_list(client: httpx.Client, catalog: Catalog) -> None:
    body = client.get("/api/tasks").json()
    assert {t["id"] for t in body["data"]} == set(catalog.tasks)
    assert all({"id", "modality", "default_tier", "description", "queue"} <= set(t) for t in body["data"])
    assert {p["id"] for p in body["plans"]} == set(catalog.plans)
