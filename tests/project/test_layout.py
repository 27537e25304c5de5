"""The tests' own layout: every test module says what it tests in a module docstring, a test module imports
no other test module (shared helpers live in tests/support and are imported as ``tests.support.<module>``;
fixtures come from conftest.py), and every tests/support module is used by some test."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

TESTS = REPO_ROOT / "tests"
SUPPORT = "tests.support"


def _test_modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if path.name.startswith("test_") and "data" not in path.parts)


def _imported(path: Path) -> set[str]:
    """The modules a file imports, absolute and dotted (a relative import is resolved against the file)."""
    package = path.relative_to(REPO_ROOT).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from tests.support import x`
    return names


def _name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def test_every_test_module_has_a_docstring() -> None:
    missing = [_name(p) for p in _test_modules() if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, f"test modules without a module docstring: {missing}"


def test_no_test_module_imports_another() -> None:
    tests = {_name(p) for p in _test_modules()} | {"conftest", "tests.conftest"}
    wrong = []
    for path in _test_modules():
        wrong_names: list[str] = []
        for name in sorted(_imported(path)):
            is_test = name in tests or name.rsplit(".", 1)[-1].startswith("test_") or name.endswith("conftest")
            outside = name.startswith("tests.") and not name.startswith(f"{SUPPORT}.") and name != SUPPORT
            said = any(name.startswith(f"{w}.") for w in wrong_names)  # `from X import y` when X is said already
            if (is_test or outside) and not said:
                wrong_names.append(name)
                wrong.append(f"{_name(path)} imports {name}")
    assert not wrong, "test modules may import only tests.support.*:\n" + "\n".join(wrong)


def test_every_support_module_is_used_by_a_test() -> None:
    users = [*_test_modules(), *TESTS.rglob("conftest.py")]
    imported = set().union(*(_imported(p) for p in users))
    support = sorted(_name(p) for p in (TESTS / "support").glob("*.py") if p.name != "__init__.py")
    unused = [name for name in support if name not in imported]
    assert not unused, f"tests/support modules no test or conftest imports: {unused}"
