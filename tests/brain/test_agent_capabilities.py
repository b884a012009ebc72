"""The shipped catalog and the brain on agent requests: a model that cannot do what the
request needs (forced tool choice, structured output, images) is never in its chain."""

from __future__ import annotations

import pytest

from brain import select
from brain.request import SelectionRequest
from catalog import Catalog
from catalog.schema import Capability


@pytest.mark.parametrize(
    "capabilities",
    [("tools", "forced_tool_use"), ("json_mode", "json_schema"), ("vision",), ("tools", "vision", "json_schema")],
)
def test_every_model_of_the_chain_has_the_capabilities(catalog: Catalog, capabilities: tuple[Capability, ...]) -> None:
    pins = (None, "claude-sonnet", "deepinfra/moonshotai/Kimi-K2.6", "huggingface/meta-llama/Llama-3.3-70B-Instruct")
    for pin in pins:
        request = SelectionRequest(task="chat_general", capabilities=capabilities, model=pin, max_fallbacks=8)
        selection = select(catalog, request)
        for model in (selection.model, *selection.fallbacks):
            assert set(capabilities) <= set(model.capabilities), (pin, model.id)


def test_a_pinned_model_that_cannot_be_forced_gives_way_with_a_note(catalog: Catalog) -> None:
    request = SelectionRequest(task="chat_general", capabilities=("tools", "forced_tool_use"), model="claude-sonnet")
    selection = select(catalog, request)
    assert selection.model.id != "anthropic/claude-sonnet-5-5"
    assert any("claude-sonnet-5-5" in note for note in selection.notes)
    tools_only = SelectionRequest(task="chat_general", capabilities=("tools",), model="claude-sonnet")
    without_forcing = select(catalog, tools_only)
    assert without_forcing.model.id == "anthropic/claude-sonnet-5-5"
