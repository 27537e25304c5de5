"""The house's size limits, docstrings included: no module over 700 source lines, no function over 100, no
class over 300 (a node's size is its ast ``end_lineno - lineno + 1``), in the four packages."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGES = ("powerlog", "analyzer", "director", "agent")
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 100
MAX_CLASS_LINES = 300


def _sizes(path: Path) -> list[tuple[str, int, int]]:
    """(what, its size in lines, its limit) for the module and every function and class in it, at any depth."""
    source = path.read_text(encoding="utf-8")
    where = path.relative_to(REPO_ROOT).as_posix()
    sizes = [(where, len(source.splitlines()), MAX_MODULE_LINES)]
    for node in ast.walk(ast.parse(source, filename=where)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            assert node.end_lineno is not None
            sizes.append((f"{where}:{node.lineno}:{node.name}", node.end_lineno - node.lineno + 1, limit))
    return sizes


def test_no_module_function_or_class_is_over_its_limit() -> None:
    files = sorted(path for package in PACKAGES for path in (REPO_ROOT / package).rglob("*.py"))
    assert files
    offenders = [
        f"{what}: {size} lines (limit {limit})" for path in files for what, size, limit in _sizes(path) if size > limit
    ]
    assert not offenders, "over the size limits:\n" + "\n".join(offenders)
