"""A small deterministic JSON-schema instance generator: what an emulated model "fills in".

Tool-call arguments and structured answers (`json_schema`, Anthropic `output_format`, Gemini
`responseSchema`) must conform to the caller's schema, as a real model's do, or every agent
framework that validates them fails on the emulator. `instance(schema, hint)` returns a value
that validates against `schema` for the keywords agents use: `type` (also a list, and
Gemini's upper-case names), `properties` (every declared property, so required ones are
always there), `items`/`prefixItems`, `minItems`/`maxItems`, `enum`, `const`, `anyOf`/
`oneOf`/`allOf`, local `$ref`s (`#/$defs/...`, `#/definitions/...`), string `format`s and
length bounds, and numeric bounds with `multipleOf`. `pattern` is not generated (a string
property with a pattern gets the hint text). Strings come from `hint` (the user's words): the
last capitalised word that does not start a sentence (the "Paris" of "weather in Paris?"),
else the property's name.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_DEPTH = 8
_FORMATS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T12:00:00Z",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}
_WORD = re.compile(r"[A-Za-z][\w-]*")


def instance(schema: Any, hint: str = "") -> Any:
    """A value that validates against `schema` (see the module doc for what is covered)."""
    return _Generator(schema if isinstance(schema, dict) else {}, hint).value(schema, "value", 0)


def proper_noun(text: str) -> str | None:
    """The last capitalised word of `text` that does not begin a sentence."""
    found: str | None = None
    sentence_start = True
    for match in _WORD.finditer(text):
        word = match.group()
        if word[0].isupper() and not sentence_start:
            found = word
        before = text[match.end() : match.end() + 2]
        sentence_start = before[:1] in (".", "!", "?")
    return found


class _Generator:
    def __init__(self, root: dict[str, Any], hint: str) -> None:
        self.root = root
        self.word = proper_noun(hint)

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return self.string({}, name)  # `true` or a missing schema: anything goes
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = [o for o in schema.get(key) or [] if isinstance(o, dict)]
            if options:
                chosen = next((o for o in options if _kind(o) != "null"), options[0])
                return self.value({**_without(schema, key), **chosen}, name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(_merged(schema), name, depth + 1)
        kind = _kind(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return _number(schema)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(schema, name)

    def resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/") or depth > MAX_DEPTH:
            return schema
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return _without(schema, "$ref")
        return self.resolve({**_without(schema, "$ref"), **target}, depth + 1)

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        if not isinstance(properties, dict):
            return {}
        required = [p for p in schema.get("required") or [] if isinstance(p, str)]
        # Past the depth limit only what must be there: a recursive schema still ends.
        names = required if depth >= MAX_DEPTH else [*required, *(p for p in properties if p not in required)]
        return {p: self.value(properties.get(p, {}), p, depth + 1) for p in names}

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = [s for s in schema.get("prefixItems") or [] if isinstance(s, dict)]
        low, high = schema.get("minItems"), schema.get("maxItems")
        count = max(low if isinstance(low, int) else 0, len(prefix), 0 if depth >= MAX_DEPTH else 1)
        if isinstance(high, int):
            count = min(count, high)
        items = schema.get("items", {})
        return [self.value(prefix[i] if i < len(prefix) else items, name, depth + 1) for i in range(count)]

    def string(self, schema: dict[str, Any], name: str) -> str:
        text = _FORMATS.get(str(schema.get("format")), self.word or name)
        low = schema.get("minLength")
        high = schema.get("maxLength")
        if isinstance(low, int) and len(text) < low:
            text = text + "x" * (low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind]
        kind = next((k for k in kinds if k != "null"), kinds[0] if kinds else None)
    if isinstance(kind, str):
        return kind.lower()  # Gemini's OpenAPI subset spells them STRING, OBJECT, ...
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _merged(schema: dict[str, Any]) -> dict[str, Any]:
    out = _without(schema, "allOf")
    properties = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        properties.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
        out.update({k: v for k, v in part.items() if k not in ("properties", "required")})
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = required
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open, high_open = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low_open, (int, float)) and not isinstance(low_open, bool):
        low = low_open
    if isinstance(high_open, (int, float)) and not isinstance(high_open, bool):
        high = high_open
    return (
        low if isinstance(low, (int, float)) else None,
        high if isinstance(high, (int, float)) else None,
        low_open is not None and low_open is not False,
        high_open is not None and high_open is not False,
    )


def _integer(schema: dict[str, Any]) -> int:
    low, high, low_open, high_open = _bounds(schema)
    step = schema.get("multipleOf")
    step = int(step) if isinstance(step, (int, float)) and step >= 1 and float(step).is_integer() else 1
    first = 1 if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
    if low is None and high is not None:
        first = min(first, (math.ceil(high) - 1) if high_open else math.floor(high))
    return math.ceil(first / step) * step


def _number(schema: dict[str, Any]) -> float | int:
    low, high, low_open, high_open = _bounds(schema)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        first = 1.0 if low is None else low
        value = math.ceil(first / step) * step
        if low_open and low is not None and value <= low:
            value += step
        return round(value, 10)
    if low is not None and high is not None:
        return (low + high) / 2
    if low is not None:
        return low + 1 if low_open else low
    if high is not None:
        return high - 1 if high_open else min(high, 1.5)
    return 1.5
