"""``mlpower-agent``: runs on the system under test."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from powerlog.cli_support import version_string

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpower-agent",
        description="Run the benchmark on the system under test and report to the director (the "
        "agent is not built yet; see the README's roadmap).",
    )
    parser.add_argument("--version", action="version", version=version_string("mlpower-agent"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("mlpower-agent: no commands yet (`run` and `gpus` are on the roadmap)", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
