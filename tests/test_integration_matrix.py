"""docs/integration-matrix.md is what `mpc-api docs matrix` writes from the catalog and the
platform tests' declarations, and those declarations name tests that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import Catalog
from cli import MATRIX_FILE, REPO_ROOT, main
from sandbox.integration_matrix import FEATURES, MatrixError, platform_coverage, render


def test_the_checked_in_matrix_is_current(catalog: Catalog) -> None:
    written = (REPO_ROOT / MATRIX_FILE).read_text(encoding="utf-8")
    assert written == render(catalog, REPO_ROOT), "docs/integration-matrix.md is stale: run `mpc-api docs matrix`"


def test_the_command_checks_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "matrix", "--check"]) == 0
    assert capsys.readouterr().out == f"{MATRIX_FILE}: current\n"


def test_every_platform_has_a_guide_and_declares_chat() -> None:
    rows = platform_coverage(REPO_ROOT / "tests" / "platforms")
    assert {r.platform for r in rows} >= {"Langflow", "LlamaIndex", "Flowise", "Activepieces", "Dify", "OpenWebUI"}
    for row in rows:
        assert (REPO_ROOT / row.guide).is_file(), row.guide
        assert "chat" in row.covers and set(row.covers) <= set(FEATURES)


def test_a_declaration_naming_a_missing_test_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_acme.py").write_text(
        'PLATFORM = "Acme"\nGUIDE = "docs/integrations/acme.md"\nCOVERS = {"chat": "test_gone"}\n\n'
        "def test_here() -> None:\n    pass\n"
    )
    with pytest.raises(MatrixError, match="test_gone"):
        platform_coverage(tmp_path)
    (tmp_path / "test_acme.py").write_text('PLATFORM = "Acme"\nGUIDE = "g.md"\nCOVERS = {"teleport": "test_x"}\n')
    with pytest.raises(MatrixError, match="teleport"):
        platform_coverage(tmp_path)
