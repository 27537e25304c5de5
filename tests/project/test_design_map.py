"""docs/design.md's package map is the code's: one line per module, from the module's own docstring
(scripts/module_map.py), so a module added, moved or removed without the map fails here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.paths import DOCS_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import module_map

PACKAGES = ("powerlog", "analyzer", "director", "agent")


def test_design_md_maps_every_module_of_every_package(capsys: pytest.CaptureFixture[str]) -> None:
    status = module_map.main(["--check", str(DOCS_DIR / "design.md")])
    assert status == 0, f"docs/design.md's package map is not the code's (run `make docs`):\n{capsys.readouterr()}"
    text = (DOCS_DIR / "design.md").read_text()
    for package in PACKAGES:
        assert f"<!-- module-map: {package} -->" in text, f"docs/design.md has no map of {package}"


def test_a_module_missing_from_the_map_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "design.md"
    stale.write_text("<!-- module-map: powerlog -->\n| module | what it is |\n|---|---|\n<!-- /module-map -->\n")
    assert module_map.main(["--check", str(stale)]) == 1
    assert "+| `spl` |" in capsys.readouterr().out
