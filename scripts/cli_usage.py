"""The usage lines in docs/cli.md, generated from the command-line parsers themselves.

Each block between ``<!-- usage: PROG -->`` and ``<!-- /usage -->`` holds the usage of ``PROG`` and of
every one of its subcommands, as argparse prints them (one line each, however long). ``make docs``
rewrites the blocks; ``--check`` (run by the tests) exits 1 and prints the difference when a block is
not what the parser says, so the reference cannot drift from the code.

Usage: ``.venv/bin/python scripts/cli_usage.py [--check] [FILE ...]`` (default: docs/cli.md).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = (ROOT / "docs" / "cli.md",)
BLOCK = re.compile(r"(<!-- usage: (?P<prog>[\w-]+) -->\n)(?P<body>.*?)(<!-- /usage -->)", re.DOTALL)
USAGE_WIDTH = 1000  # one line per usage: a reader scrolls, a diff stays line by line


def parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    sys.path.insert(0, str(ROOT))
    from agent.cli import build_parser as agent_parser
    from analyzer.cli import build_parser as analyzer_parser
    from director.cli import build_parser as director_parser
    from director.ptd_front.cli import build_parser as ptd_parser

    return {
        "mlpower-analyzer": analyzer_parser,
        "mlpower-director": director_parser,
        "mlpower-agent": agent_parser,
        "mlpower-ptd": ptd_parser,
    }


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _usage(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=USAGE_WIDTH)
    return " ".join(parser.format_usage().removeprefix("usage: ").split())


def usage_lines(prog: str) -> list[str]:
    parser = parsers()[prog]()
    return [_usage(parser), *(_usage(sub) for sub in subcommands(parser).values())]


def render(text: str) -> str:
    def block(m: re.Match[str]) -> str:
        body = "```\n" + "\n".join(usage_lines(m.group("prog"))) + "\n```\n"
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a block is out of date")
    p.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    args = p.parse_args(argv)
    stale = 0
    for path in args.files:
        text = path.read_text(encoding="utf-8")
        if not BLOCK.search(text):
            print(f"{path}: no <!-- usage: PROG --> block", file=sys.stderr)
            stale += 1
            continue
        new = render(text)
        if new == text:
            continue
        if args.check:
            stale += 1
            diff = difflib.unified_diff(text.splitlines(), new.splitlines(), str(path), "from the parsers", lineterm="")
            print("\n".join(diff))
            print(f"{path}: usage lines out of date: run `make docs`", file=sys.stderr)
        else:
            path.write_text(new, encoding="utf-8")
            print(f"{path}: usage lines updated", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
