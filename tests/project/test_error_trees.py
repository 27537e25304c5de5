"""Each package's exception tree, drawn in its errors.py docstring, is true and complete: every drawn class
exists and derives from the class it is drawn under, and every exception class defined anywhere in the
package (any module, any base) is drawn, but for the few listed in ``OUTSIDE`` with the reason they must
stay outside."""

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
# exception classes that must not derive from their package's base, by module.name
OUTSIDE = {
    "agent.signals.Signalled": "a KeyboardInterrupt: no `except Exception` (nor `except AgentError`) may catch it",
    "director.meters.scripted.ScriptMismatch": "a test double's AssertionError: no meter error handler may catch it",
    "director.routes.common.ApiError": "FastAPI's HTTPException: an HTTP reply, turned into one by FastAPI",
    "analyzer.official._Fail": "module-private control flow, caught where it is raised",
    "analyzer.official._Warn": "module-private control flow, caught where it is raised",
}
# a tree line: the branches, a class name, then two spaces and what it means (or nothing)
_NODE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?: {2,}|$)")


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


def _defined(package: str) -> dict[str, type[BaseException]]:
    """Every exception class defined in the package (any module, any base), by module.name."""
    found: dict[str, type[BaseException]] = {}
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_drawn_tree_is_true_and_complete(package: str) -> None:
    errors = importlib.import_module(f"{package}.errors")
    base = getattr(errors, PACKAGES[package])
    defined = _defined(package)
    outside = {path for path in defined if path in OUTSIDE}
    by_name = {path.rsplit(".", 1)[1]: cls for path, cls in defined.items() if path not in outside}
    drawn = _drawn(errors)
    assert drawn and drawn[0] == (base.__name__, None)
    for name, parent in drawn[1:]:
        assert name in by_name, f"{package}: {name} is drawn but not defined"
        assert parent is not None and by_name[parent] in by_name[name].__mro__, f"{name} is not a {parent}"
    not_drawn = sorted(path for path, cls in defined.items() if path not in outside and cls.__name__ not in dict(drawn))
    assert not not_drawn, f"{package}: defined but not drawn in {package}/errors.py: {not_drawn}"
    for path in outside:
        assert not issubclass(defined[path], base), f"{path} is listed as outside the tree but is a {base.__name__}"


def test_every_class_listed_outside_a_tree_exists() -> None:
    defined = {path for package in PACKAGES for path in _defined(package)}
    assert set(OUTSIDE) <= defined, sorted(set(OUTSIDE) - defined)
