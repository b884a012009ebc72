"""`SelectionRequest` decoding, `estimate_tokens` and `HealthSnapshot`."""

from __future__ import annotations

import msgspec
import pytest

from brain import HEALTHY, HealthSnapshot, SelectionRequest, estimate_tokens


def test_request_defaults_and_decoding() -> None:
    req = msgspec.json.decode(b'{"task": "chat_general"}', type=SelectionRequest)
    assert req == SelectionRequest(task="chat_general")
    assert req.max_fallbacks == 3 and req.tier is None and req.providers_deny == ()
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"task": "x", "providers": {}}', type=SelectionRequest)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"task": "x", "max_fallbacks": 9}', type=SelectionRequest)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"task": "x", "tier": "huge"}', type=SelectionRequest)


@pytest.mark.parametrize(
    ("value", "tokens"),
    [
        ("", 0),
        ("abcd", 1),
        ("abcde", 2),
        ([{"role": "user", "content": "x" * 40}], 10),
        (
            [
                {"role": "system", "content": "y" * 8},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "z" * 8},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 9999}},
                    ],
                },
                {"role": "assistant", "content": None, "tool_calls": []},
            ],
            4,
        ),
        (["embed me", "and me"], 4),  # embedding input: 14 characters
        (None, 0),
        (12345, 0),
        ({"unexpected": "shape"}, 0),
        ([[[[[["deep"]]]]]], 0),  # nesting beyond a sane body counts as nothing
    ],
)
def test_estimate_tokens(value: object, tokens: int) -> None:
    assert estimate_tokens(value) == tokens


def test_health_snapshot_is_a_read_only_mapping() -> None:
    health = HealthSnapshot({"openai": "open", "groq": "closed"}, scores={"openai": 3.0})
    assert dict(health) == {"openai": "open", "groq": "closed"}
    assert health.state("anthropic") == "closed" and "anthropic" not in health
    assert health.score("openai") == 1.0  # clamped into 0..1
    assert health.rank("groq") == 0.0 < health.rank("openai")
    assert dict(health.unhealthy) == {"openai": 2.0}
    assert not hasattr(health, "__setitem__")
    assert len(HEALTHY) == 0 and not HEALTHY.unhealthy


def test_health_snapshot_orders_states_and_scores() -> None:
    health = HealthSnapshot(
        {"a": "half_open", "b": "half_open", "c": "open", "d": "closed"}, scores={"a": 0.1, "b": 0.9, "d": 0.0}
    )
    ranked = sorted("abcde", key=health.rank)
    assert ranked == ["d", "e", "b", "a", "c"]  # a closed score is ignored; e is unknown: closed


def test_health_snapshot_refuses_unknown_states() -> None:
    with pytest.raises(ValueError, match="breaker state"):
        HealthSnapshot({"openai": "broken"})  # type: ignore[dict-item]
