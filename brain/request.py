"""What a caller asks the brain for, and a cheap token estimate to fill `min_context`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from catalog.schema import Capability, RequiredInput, Speed, Tier

MAX_FALLBACKS = 8
DEFAULT_FALLBACKS = 3

# Roughly four characters per token for English text across the common BPE tokenizers.
# The estimate only has to keep a long conversation away from short-context models, so a
# tokenizer (tens of milliseconds and a per-provider download) would buy nothing here.
CHARS_PER_TOKEN = 4


class SelectionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One selection: the task plus optional constraints and preferences.

    Hard constraints (a model failing one is removed): `capabilities`, `inputs` (what the
    request carries: a model requiring an input not listed is removed), `providers_allow`,
    `providers_deny`, `min_context`, `speed`, `domains` when `domains_required`, and the tier
    policy. Without `domains_required`, `domains` only ranks. `model` pins a model by any of
    its names. The Meta bounds apply when the struct is decoded; the brain clamps
    `max_fallbacks` again because a struct can also be built in code without validation.
    """

    task: str
    tier: Tier | None = None
    speed: Speed | None = None
    domains: tuple[str, ...] = ()
    domains_required: bool = False
    capabilities: tuple[Capability, ...] = ()
    inputs: tuple[RequiredInput, ...] = ()
    providers_allow: tuple[str, ...] = ()
    providers_deny: tuple[str, ...] = ()
    min_context: Annotated[int, msgspec.Meta(ge=0)] | None = None
    allow_downgrade: bool = False
    max_fallbacks: Annotated[int, msgspec.Meta(ge=0, le=MAX_FALLBACKS)] = DEFAULT_FALLBACKS
    explain: bool = False
    model: str | None = None


def clamp_fallbacks(requested: int) -> int:
    """`max_fallbacks` forced into 0..MAX_FALLBACKS (0 means: the primary alone)."""
    return min(max(requested, 0), MAX_FALLBACKS)


def estimate_tokens(messages_or_input: object) -> int:
    """Approximate token count of an OpenAI `messages` list or an `input` value.

    Counts the characters of every text it can find — a plain string, message `content`
    strings, `{"type": "text", "text": ...}` parts, lists of strings (embedding input) — and
    divides by four, rounding up. Images, audio and unknown shapes count as nothing: this
    must never raise on a body the API has already accepted.
    """
    chars = _text_chars(messages_or_input, depth=0)
    return -(-chars // CHARS_PER_TOKEN)


def _text_chars(value: object, *, depth: int) -> int:
    # The depth cap keeps a hostile, deeply nested body from costing more than a few loops.
    if depth > 4:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        content = value.get("content")
        if content is not None:
            return _text_chars(content, depth=depth + 1)
        text = value.get("text")
        return len(text) if isinstance(text, str) else 0
    if isinstance(value, list | tuple):
        return sum(_text_chars(item, depth=depth + 1) for item in value)
    return 0
