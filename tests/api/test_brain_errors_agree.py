"""A brain error, or a bad constraint, is answered alike on every route that asks the brain: select-model, chat
completions and jobs all say 422 with the brain's code and param (README: select-model)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from catalog import Catalog
from tests.support.envelopes import assert_envelope
from tests.support.metrics import scrape

MESSAGES = [{"role": "user", "content": "hi"}]
NO_PROVIDER = {"allow": ["fal"]}  # a provider without a text model


def ask_everywhere(client: httpx.Client, task: str, **fields: Any) -> dict[str, httpx.Response]:
    chat = {"model": "auto", "messages": MESSAGES, "task": task, **fields}
    return {
        "select-model": client.post("/api/select-model", json={"task": task, **fields}),
        "chat": client.post("/api/chat/completions", json=chat),
        "jobs": client.post("/api/jobs", json={"task": task, "input": {"messages": MESSAGES}, "params": fields}),
    }


def test_no_candidate_is_422_naming_the_constraint_everywhere(client: httpx.Client) -> None:
    for route, response in ask_everywhere(client, "chat_general", providers=NO_PROVIDER).items():
        error = assert_envelope(response, 422, "no_candidate")
        assert error["param"] == "providers.allow", route
    failures = scrape(f"{client.base_url}/metrics")
    assert failures['mpc_selection_failures_total{constraint="providers.allow",task="chat_general"}'] == 3


@pytest.mark.parametrize("route", ["select-model", "chat", "jobs"])
def test_an_unknown_task_is_422_listing_the_known_ones(client: httpx.Client, catalog: Catalog, route: str) -> None:
    error = assert_envelope(ask_everywhere(client, "dance")[route], 422, "unknown_task")
    assert error["param"] == "task"
    listed = [t.id for t in catalog.tasks.values() if route != "chat" or t.modality == "text"]
    assert all(task in error["message"] for task in listed)


def test_a_pinned_model_that_does_not_serve_the_task_is_422_on_chat_as_on_select_model(
    client: httpx.Client, catalog: Catalog
) -> None:
    model = next(m for m in catalog.models.values() if m.modality == "text" and "summarize" not in m.tasks)
    select = client.post("/api/select-model", json={"task": "summarize", "model": model.id})
    chat = client.post("/api/chat/completions", json={"model": model.id, "messages": MESSAGES, "task": "summarize"})
    for response in (select, chat):
        assert assert_envelope(response, 422, "model_not_for_task")["param"] == "model"


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"providers": {"allow": ["nobody"]}}, "providers.allow[0]"), ({"tier": "premium"}, "tier")],
    ids=["provider", "tier"],
)
def test_a_bad_constraint_is_the_same_422_on_chat_as_on_select_model(
    client: httpx.Client, fields: dict[str, Any], param: str
) -> None:
    answers = ask_everywhere(client, "chat_general", **fields)
    errors = [assert_envelope(answers[route], 422, "invalid_value") for route in ("select-model", "chat")]
    assert errors[0] == errors[1]
    assert errors[0]["param"] == param and "allowed values" in errors[0]["message"]
