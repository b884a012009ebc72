"""The README's configuration table is the one `queues.settings` declares: every `MPC_*`
variable, each row as `configuration_rows` writes it, and no other variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from queues.settings import configuration_rows

README = Path(__file__).resolve().parent.parent / "README.md"
ROWS = configuration_rows()


def _table_rows() -> list[str]:
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `MPC_")]


@pytest.mark.parametrize("row", ROWS, ids=[name for name, _, _ in ROWS])
def test_the_readme_table_has_the_declared_row(row: tuple[str, str, str]) -> None:
    assert "| `{}` | {} | {} |".format(*row) in _table_rows()


def test_the_readme_table_lists_only_declared_variables() -> None:
    listed = {name for line in _table_rows() for name in re.findall(r"`(MPC_[A-Z0-9_]+)`", line)}
    assert listed <= {name for name, _, _ in ROWS}
