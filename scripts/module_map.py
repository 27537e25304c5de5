"""The package map in docs/design.md, one line per module, generated from the modules' own docstrings.

Each block between ``<!-- module-map: PACKAGE -->`` and ``<!-- /module-map -->`` is a table of every module of
``PACKAGE`` (a sub-package by its ``__init__``'s docstring, ``__main__`` and empty ``__init__`` files left
out) with the first sentence of its docstring. ``make docs`` rewrites the blocks; ``--check`` (run by the
tests) exits 1 and prints the difference when a block is not what the code says, so the map cannot lag the
code: a new module without a docstring, or one that moved, fails the check until the map is regenerated.

Usage: ``.venv/bin/python scripts/module_map.py [--check] [FILE ...]`` (default: docs/design.md).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = (ROOT / "docs" / "design.md",)
BLOCK = re.compile(r"(<!-- module-map: (?P<package>\w+) -->\n)(?P<body>.*?)(<!-- /module-map -->)", re.DOTALL)
TREE_BLOCK = re.compile(r"(<!-- error-tree: (?P<package>[\w/]+) -->\n)(?P<body>.*?)(<!-- /error-tree -->)", re.DOTALL)
SENTENCE_END = re.compile(r"(?<=\.)\s")


class MissingDocstring(Exception):
    pass


def first_sentence(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not docstring:
        raise MissingDocstring(f"{path.relative_to(ROOT)} has no module docstring: write one (the map shows it)")
    paragraph = " ".join(docstring.split("\n\n", 1)[0].split())
    sentence = SENTENCE_END.split(paragraph, maxsplit=1)[0]
    return sentence.rstrip(":;").replace("|", "\\|")


def module_table(package: str) -> str:
    rows = ["| module | what it is |", "|---|---|"]
    base = ROOT / package
    for path in sorted(base.rglob("*.py"), key=lambda p: p.relative_to(base).with_suffix("").parts):
        relative = path.relative_to(base).with_suffix("")
        if relative.name == "__main__" or "static" in relative.parts:
            continue
        if relative.name == "__init__":
            if not relative.parent.parts or not path.read_text(encoding="utf-8").strip():
                continue  # the package itself (its section's heading), or an empty marker file
            name = "/".join(relative.parent.parts) + "/"
        else:
            name = "/".join(relative.parts)
        rows.append(f"| `{name}` | {first_sentence(path)} |")
    return "\n".join(rows) + "\n"


def error_tree(package: str) -> str:
    """The tree drawn in ``PACKAGE/errors.py``'s docstring (the indented block after ``::``), fenced."""
    docstring = ast.get_docstring(ast.parse((ROOT / package / "errors.py").read_text(encoding="utf-8"))) or ""
    drawing = docstring.split("::\n", 1)[1].lstrip("\n").split("\n\n", 1)[0] if "::\n" in docstring else ""
    if not drawing.strip():
        raise MissingDocstring(f"{package}/errors.py draws no tree after '::' in its docstring")
    return "```\n" + textwrap.dedent(drawing).rstrip() + "\n```\n"


def rewrite(text: str) -> str:
    text = BLOCK.sub(lambda m: m.group(1) + module_table(m.group("package")) + m.group(4), text)
    return TREE_BLOCK.sub(lambda m: m.group(1) + error_tree(m.group("package")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a block differs from the code")
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        text = path.read_text(encoding="utf-8")
        try:
            new = rewrite(text)
        except MissingDocstring as e:
            print(e, file=sys.stderr)
            return 1
        if new == text:
            continue
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), str(path), "code"))
            status = 1
        else:
            path.write_text(new, encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
