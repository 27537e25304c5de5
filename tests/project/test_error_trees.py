"""Each package's exception tree, drawn in its errors.py docstring, is true: every drawn class exists and
derives from the class it is drawn under, and every exception class the package defines under its base
is drawn."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

PACKAGES = {
    "powerlog": "PowerlogError",
    "analyzer": "AnalyzerError",
    "director": "DirectorError",
    "agent": "AgentError",
}
_NODE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+(?:Error|Failed|Busy|Conflict|Unreachable|Untrusted|Unusable|Reply))\b"
)


def _drawn(module: ModuleType) -> list[tuple[str, str | None]]:
    """(class, parent) pairs from the docstring's tree; the parent is the nearest line drawn less deep."""
    pairs: list[tuple[str, str | None]] = []
    stack: list[tuple[int, str]] = []
    for line in (module.__doc__ or "").splitlines():
        m = _NODE.match(line.strip("\n").removeprefix("    "))
        if not m:
            continue
        depth = len(m.group("indent"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        pairs.append((m.group("name"), stack[-1][1] if stack else None))
        stack.append((depth, m.group("name")))
    return pairs


def _defined(package: str, base: type) -> dict[str, type]:
    """Every exception class defined in the package (any module) that derives from its base."""
    found: dict[str, type] = {}
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == info.name:
                found[name] = obj
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_drawn_tree_is_true_and_complete(package: str) -> None:
    errors = importlib.import_module(f"{package}.errors")
    base = getattr(errors, PACKAGES[package])
    defined = _defined(package, base)
    drawn = _drawn(errors)
    assert drawn and drawn[0] == (base.__name__, None)
    for name, parent in drawn[1:]:
        assert name in defined, f"{package}: {name} is drawn but not defined"
        assert parent is not None and defined[parent] in defined[name].__mro__, f"{name} is not a {parent}"
    assert set(defined) == {name for name, _ in drawn}, f"{package}: defined but not drawn"
