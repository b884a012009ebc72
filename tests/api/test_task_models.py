"""Tasks and plans as model ids: what `GET /api/models` lists first, what a chat picker is
narrowed to, and the errors for a `mpc/…` id the endpoints cannot run (answered before any
job exists; tests/platforms runs them end to end)."""

from __future__ import annotations

import httpx

from catalog import Catalog
from tests.support.envelopes import assert_envelope


def test_auto_tasks_and_plans_are_listed_first(client: httpx.Client, catalog: Catalog) -> None:
    data = client.get("/api/models").json()["data"]
    ids = [m["id"] for m in data]
    assert ids[0] == "auto"
    picks = [m for m in data if m.get("owned_by") == "mpc"]
    assert ids[: len(picks)] == [m["id"] for m in picks]  # before every catalog model
    assert {"mpc/summarize", "mpc/code_generate:flagship", "mpc/tts:draft", "mpc/rag_pipeline"} <= set(ids)
    for task in catalog.tasks.values():
        bare = next(m for m in picks if m["id"] == f"mpc/{task.id}")
        assert bare["kind"] == "task" and bare["tier"] == task.default_tier and bare["modality"] == task.modality
        tiers = {m.tier for m in catalog.models_for_task(task.id) if m.enabled}
        assert {m["tier"] for m in picks if m["id"].startswith(f"mpc/{task.id}:")} == tiers
    plan = next(m for m in picks if m["id"] == "mpc/rag_pipeline")
    assert plan["kind"] == "plan"
    assert plan["steps"] == ["rag_rewrite", "embed_text", "embed_text", "rank_documents", "rag_answer"]
    assert len(ids) == len(set(ids))


def test_a_chat_picker_sees_only_chat_ids(client: httpx.Client, catalog: Catalog) -> None:
    picker = client.get("/api/models", params={"modality": "text"}).json()["data"]
    assert picker[0]["id"] == "auto"
    assert all(m["modality"] == "text" for m in picker)
    assert "mpc/chat_general:draft" in {m["id"] for m in picker}
    assert not {"mpc/tts", "mpc/embed_text", "mpc/rag_pipeline"} & {m["id"] for m in picker}
    draft_tts = client.get("/api/models", params={"task": "tts", "tier": "draft"}).json()["data"]
    assert draft_tts[0]["id"] == "mpc/tts:draft" and all(m["tier"] == "draft" for m in draft_tts)
    assert all(m["id"] != "auto" for m in client.get("/api/models", params={"provider": "groq"}).json()["data"])


def test_task_models_by_id(client: httpx.Client) -> None:
    assert client.get("/api/models/mpc/code_generate:flagship").json()["tier"] == "flagship"
    assert client.get("/api/models/auto").json()["kind"] == "auto"
    assert client.get("/api/models/mpc/podcast_episode").json()["kind"] == "plan"
    assert assert_envelope(client.get("/api/models/mpc/dance"), 404, "model_not_found")["param"] == "id"
    assert assert_envelope(client.get("/api/models/mpc/tts:gold"), 400, "invalid_value")["param"] == "id"


def test_task_models_the_endpoints_cannot_run(client: httpx.Client) -> None:
    hello = [{"role": "user", "content": "hi"}]
    for model, status, code in [
        ("mpc/dance", 404, "model_not_found"),
        ("mpc/summarize:gold", 400, "invalid_value"),
        ("mpc/rag_pipeline", 400, "invalid_value"),  # a plan runs as a job
        ("mpc/tts", 400, "invalid_value"),  # not a chat task
    ]:
        error = assert_envelope(client.post("/api/chat/completions", json={"model": model, "messages": hello}), status)
        assert error["code"] == code and error["param"] == "model", model
    clash = client.post(
        "/api/chat/completions", json={"model": "mpc/summarize", "task": "translate", "messages": hello}
    )
    assert assert_envelope(clash, 400, "invalid_value")["param"] == "task"
    wrong = client.post("/api/embeddings", json={"model": "mpc/summarize", "input": "x"})
    assert assert_envelope(wrong, 400, "invalid_value")["param"] == "model"
    legacy = client.post("/v1/completions", json={"model": "mpc/image_generate", "prompt": "x"})
    assert assert_envelope(legacy, 400, "invalid_value")["param"] == "model"
