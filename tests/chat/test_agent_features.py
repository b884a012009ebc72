"""Agent features through every chat provider the emulator speaks: the real `openai` SDK
against the gateway → worker → the real LiteLLM proxy → the emulator speaking the
provider's own wire (Anthropic tool_use blocks, Gemini functionCall parts, OpenAI-compatible
tool_calls).

Each test is parametrized over the providers, and pins the provider's first catalog model
that has what the request needs. A provider with no such model is the other half of the
contract: its model is pinned anyway and the brain must answer with another provider's
model that has the capability.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import openai
import pytest

from catalog import load_catalog
from catalog.schema import Model
from sandbox.emulator.litellm_config import EMULATED
from tests.support.auth import TEST_API_KEY
from tests.support.chat_stack import Stack

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
# Every provider with a chat model whose LiteLLM route the emulator serves.
PROVIDERS = sorted(
    {m.provider for m in CATALOG.data.models if m.modality == "text" and m.provider_id.split("/")[0] in EMULATED}
)
# Where the provider (as LiteLLM 1.106.12 passes it on) gives the reasoning text; OpenAI's
# chat API gives a token count only, and LiteLLM drops reasoning_effort for CometAPI and
# Hugging Face (drop_params).
REASONING_TEXT = {"anthropic", "gemini", "groq", "together", "deepinfra"}
REASONING_FORWARDED = REASONING_TEXT | {"openai"}

WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "options": {
            "type": "object",
            "properties": {"hourly": {"type": "boolean"}},
            "required": ["hourly"],
        },
    },
    "required": ["city", "days"],
}
TIME: dict[str, Any] = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "description": "Forecast", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time", "parameters": TIME}},
]
ANSWER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "a": {"type": "integer"},
        "label": {"type": "string", "enum": ["low", "high"]},
        "items": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["a", "label", "items"],
    "additionalProperties": False,
}
# No numeric, length or array-size bounds in ANSWER: on the Anthropic path LiteLLM moves them
# into the description (Claude's grammar cannot enforce them), so no provider path would.
# A 1x1 PNG.
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.base_url}/api", api_key=TEST_API_KEY, max_retries=0, timeout=30)


def model_for(provider: str, *capabilities: str) -> Model | None:
    """The provider's first enabled chat model with every capability (None: it has none)."""
    for model in CATALOG.data.models:
        chat = model.provider == provider and model.modality == "text" and model.enabled
        if chat and set(capabilities) <= set(model.capabilities):
            return model
    return None


def pinned(provider: str, *capabilities: str) -> tuple[str, bool]:
    """The model id to pin, and whether it has the capabilities (else the brain must move)."""
    model = model_for(provider, *capabilities)
    if model is not None:
        return model.id, True
    fallback = model_for(provider)
    assert fallback is not None
    return fallback.id, False


def answered_by(stack: Stack, raw: Any, asked: str, capable: bool, *capabilities: str) -> None:
    model = stack.catalog.models[raw.headers["x-mpc-model"]]
    assert set(capabilities) <= set(model.capabilities)
    assert (model.id == asked) is capable, (model.id, asked)


def assembled_calls(stream: Any) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for part in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(part.index, {"name": "", "arguments": ""})
            if part.function is not None:
                entry["name"] += part.function.name or ""
                entry["arguments"] += part.function.arguments or ""
    assert finish == "tool_calls"
    return calls


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_call_with_schema_arguments_and_the_result_round_trip(module_stack: Stack, provider: str) -> None:
    model, capable = pinned(provider, "tools")
    sdk = client(module_stack)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=messages, tools=TOOLS)
    answered_by(module_stack, raw, model, capable, "tools")
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.id and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema_rs.validate(WEATHER, arguments)
    assert arguments["city"] == "Paris"
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "light rain, 6 C"})
    second = sdk.chat.completions.create(model=model, messages=messages, tools=TOOLS).choices[0]
    assert second.finish_reason == "stop" and not second.message.tool_calls
    assert second.message.content and "light rain, 6 C" in second.message.content


@pytest.mark.parametrize("provider", PROVIDERS)
def test_parallel_calls_streamed_as_argument_deltas(module_stack: Stack, provider: str) -> None:
    model, _ = pinned(provider, "tools", "streaming")
    stream = client(module_stack).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather and local time in Lima?"}],
        tools=TOOLS,
        stream=True,
    )
    calls = assembled_calls(stream)
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    jsonschema_rs.validate(WEATHER, json.loads(calls[0]["arguments"]))
    assert json.loads(calls[1]["arguments"]) == {"zone": "Lima"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_choice_required_and_named(module_stack: Stack, provider: str) -> None:
    model, capable = pinned(provider, "tools", "forced_tool_use")
    sdk = client(module_stack)
    messages: list[Any] = [{"role": "user", "content": "Hello there"}]  # about no tool: only forcing calls one
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=messages, tools=TOOLS, tool_choice="required"
    )
    answered_by(module_stack, raw, model, capable, "forced_tool_use")
    [call] = raw.parse().choices[0].message.tool_calls or []
    jsonschema_rs.validate(WEATHER, json.loads(call.function.arguments))
    named: Any = {"type": "function", "function": {"name": "get_time"}}
    stream = sdk.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,
        tool_choice=named,
        stream=True,
    )
    calls = assembled_calls(stream)
    assert [c["name"] for c in calls.values()] == ["get_time"]
    jsonschema_rs.validate(TIME, json.loads(calls[0]["arguments"]))


def test_a_model_that_turns_forced_tool_use_into_auto_is_not_chosen_for_it(module_stack: Stack) -> None:
    """claude-sonnet-5-5: LiteLLM's model map says supports_forced_tool_use false, and with
    drop_params it sends tool_choice "auto" instead. Pinned, it gives way (with a note)."""
    sonnet = CATALOG.resolve("claude-sonnet")
    assert sonnet is not None and "tools" in sonnet.capabilities and "forced_tool_use" not in sonnet.capabilities
    raw = client(module_stack).chat.completions.with_raw_response.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "Hello there"}],
        tools=TOOLS,
        tool_choice="required",
    )
    answered_by(module_stack, raw, sonnet.id, False, "forced_tool_use")
    assert raw.parse().choices[0].finish_reason == "tool_calls"
    auto = client(module_stack).chat.completions.with_raw_response.create(
        model="claude-sonnet", messages=[{"role": "user", "content": "Weather in Rome?"}], tools=TOOLS
    )
    assert auto.headers["x-mpc-model"] == sonnet.id  # without forcing it stays the pinned model
    assert auto.parse().choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_object(module_stack: Stack, provider: str) -> None:
    model, capable = pinned(provider, "json_mode")
    raw = client(module_stack).chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Hello"}],
        response_format={"type": "json_object"},
    )
    answered_by(module_stack, raw, model, capable, "json_mode")
    assert isinstance(json.loads(raw.parse().choices[0].message.content or ""), dict)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_schema_answer_conforms(module_stack: Stack, provider: str) -> None:
    model, capable = pinned(provider, "json_schema")
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER, "strict": True}}
    raw = client(module_stack).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Give me a"}], response_format=response_format
    )
    answered_by(module_stack, raw, model, capable, "json_schema")
    jsonschema_rs.validate(ANSWER, json.loads(raw.parse().choices[0].message.content or ""))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_parts(module_stack: Stack, provider: str) -> None:
    model, capable = pinned(provider, "vision")
    image = {"type": "image_url", "image_url": {"url": PNG}}
    content: Any = [{"type": "text", "text": "What is in this picture?"}, image]
    raw = client(module_stack).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}]
    )
    answered_by(module_stack, raw, model, capable, "vision")
    assert (raw.parse().choices[0].message.content or "").endswith("(seen 1 image)")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reasoning_effort_and_reasoning_text(module_stack: Stack, provider: str) -> None:
    model = model_for(provider, "reasoning", "streaming") or model_for(provider)
    assert model is not None
    sdk = client(module_stack)
    messages: list[Any] = [{"role": "user", "content": "Why is the sky blue?"}]
    module_stack.emulator.clear_requests()
    whole = sdk.chat.completions.create(model=model.id, messages=messages, reasoning_effort="low")
    text = getattr(whole.choices[0].message, "reasoning_content", None)
    assert whole.choices[0].message.content
    [upstream] = module_stack.emulator.requests(model=module_stack.upstream_name(model.id))
    forwarded = json.dumps(upstream["body"])
    # reasoning_effort as is (OpenAI-compatible), as `thinking` (Anthropic) or `thinkingConfig` (Gemini)
    assert ("effort" in forwarded or "thinking" in forwarded) is (provider in REASONING_FORWARDED)
    if provider not in REASONING_TEXT or "reasoning" not in model.capabilities:
        assert text is None  # accepted, and nothing made up
        return
    assert text and text.startswith("Emulated reasoning")
    stream = sdk.chat.completions.create(model=model.id, messages=messages, reasoning_effort="low", stream=True)
    chunks = [c for c in stream if c.choices]
    streamed = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert streamed == text
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
