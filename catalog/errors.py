"""Errors raised while loading or checking the catalog."""

from __future__ import annotations


class CatalogError(ValueError):
    """The catalog is invalid. `path` is a JSON path (`$.models[3].tier`) or a file path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
