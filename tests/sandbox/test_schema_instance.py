"""The emulator's schema-instance generator: what it fills in validates against the schema."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from sandbox.emulator.schema_instance import instance, proper_noun

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False},
    {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 5, "maximum": 9}}},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 7, "multipleOf": 5}}, "required": ["n"]},
    {"type": "object", "properties": {"n": {"type": "integer", "maximum": -3}}, "required": ["n"]},
    {"type": "array", "items": {"type": "string", "minLength": 12, "maxLength": 14}, "minItems": 3, "maxItems": 3},
    {"type": ["null", "boolean"]},
    {"enum": ["red", "green"]},
    {"const": 42},
    {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
    {"type": "string", "format": "email"},
    {
        "type": "object",
        "allOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ],
    },
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/node"}},
                "required": ["name"],
            }
        },
        "$ref": "#/$defs/node",
    },
    {
        "type": "object",
        "properties": {
            "people": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
                    "required": ["name", "age"],
                },
            }
        },
        "required": ["people"],
    },
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_instance_validates(schema: dict[str, Any]) -> None:
    value = instance(schema, "Tell me about Paris")
    jsonschema_rs.validate(schema, value, validate_formats=True)
    assert value == instance(schema, "Tell me about Paris")  # deterministic


def test_gemini_upper_case_types() -> None:
    value = instance({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]})
    assert value == {"n": 1}


def test_strings_come_from_the_users_proper_noun() -> None:
    assert proper_noun("What is the weather in Paris and London?") == "London"
    assert proper_noun("Weather. Now.") is None
    assert instance({"type": "object", "properties": {"city": {"type": "string"}}}, "weather in Oslo") == {
        "city": "Oslo"
    }
