"""``mlpower-director``: the machine wired to the power analyzer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from powerlog.cli_support import version_string

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpower-director",
        description="Record wall-meter readings for MLPerf power measurements (meter drivers and the "
        "session service are not built yet; see the README's roadmap).",
    )
    parser.add_argument("--version", action="version", version=version_string("mlpower-director"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("mlpower-director: no commands yet (meter drivers and `serve` are on the roadmap)", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
