"""Errors raised while loading or checking the catalog, and reading msgspec's."""

from __future__ import annotations

import re

import msgspec

# msgspec ends a validation message with the JSON path when there is one:
# "Expected `int`, got `str` - at `$.models[3].context_window`".
_AT_PATH = re.compile(r"^(?P<problem>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.DOTALL)


class CatalogError(ValueError):
    """The catalog is invalid. `path` is a JSON path (`$.models[3].tier`) or a file path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def problem_and_path(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """A msgspec validation error as its problem and the JSON path it names ("$.a[0]"), if any."""
    match = _AT_PATH.match(str(exc))
    assert match is not None  # the pattern matches any string
    return match["problem"], match["path"]
