"""Reading Gemini request bodies, which LiteLLM sends in camelCase or snake_case."""

from __future__ import annotations

from typing import Any


def field(mapping: Any, camel: str, snake: str) -> Any:
    """``mapping[camel]``, else ``mapping[snake]``, else None (also when not a dict)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(camel, mapping.get(snake))


def parts_text(content: Any) -> str:
    """The text parts of a ``Content`` object, joined by spaces."""
    parts = field(content, "parts", "parts") or []
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
