"""Imports flow one way: each runtime package imports only the packages below it.

The table is docs/architecture.md's "Components"; a new arrow is a design decision, made
there first and then here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = {"catalog", "metrics", "brain", "queues", "artifacts", "workers", "api", "sandbox", "cli", "tests"}
ALLOWED: dict[str, set[str]] = {
    "catalog": set(),
    "metrics": set(),
    "brain": {"catalog"},
    "queues": {"catalog"},
    "artifacts": set(),
    "workers": {"brain", "catalog", "queues", "metrics", "artifacts"},
    "api": {"brain", "catalog", "queues", "metrics", "artifacts"},
    # Development only: it may use every runtime package; only cli.py and tests import it.
    "sandbox": {"catalog", "metrics", "brain", "queues", "artifacts", "workers", "api"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    modules = sorted((REPO / package).rglob("*.py"))
    assert modules, f"no modules found for {package}"
    found = {
        f"{module.relative_to(REPO)} imports {name}"
        for module in modules
        for name in _imported_packages(module) - ALLOWED[package] - {package}
    }
    assert not found, "imports against the package table:\n" + "\n".join(sorted(found))


def test_the_command_line_imports_no_test_code() -> None:
    assert "tests" not in _imported_packages(REPO / "cli.py")


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/support (or a benchmark's own `_` modules), never in a
    test module or a conftest, which pytest imports on its own terms."""
    found = []
    for module in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tests."):
                last = (node.module or "").rsplit(".", 1)[-1]
                if last.startswith("test_") or last == "conftest":
                    found.append(f"{module.relative_to(REPO)} imports {node.module}")
    assert not found, "\n".join(found)
