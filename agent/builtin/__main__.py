"""``python -m agent.builtin``: run the built-in benchmark under LoadGen and summarise it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.builtin.harness import (
    SCENARIOS,
    SUBMISSION_MIN_DURATION_S,
    BuiltinBenchmarkError,
    BuiltinResult,
    parse_scenario,
    run_builtin,
)
from agent.workload import LOADGEN_DIR_ENV

__all__ = ["LOG_DIR_ENV", "build_parser", "format_summary", "main"]

LOG_DIR_ENV = LOADGEN_DIR_ENV  # the folder the agent names for LoadGen
PROG = "python -m agent.builtin"


def _scenario_arg(text: str) -> str:
    try:
        return parse_scenario(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _duration_arg(text: str) -> float:
    try:
        duration_s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"duration must be a number of seconds, got {text!r}") from None
    if not duration_s >= 0.001 or duration_s == float("inf"):
        raise argparse.ArgumentTypeError(f"duration must be a finite number of seconds, at least 0.001, got {text!r}")
    return duration_s


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the built-in benchmark (a tiny numpy CNN) under MLPerf LoadGen in one scenario.",
    )
    parser.add_argument("--scenario", required=True, type=_scenario_arg, help=" | ".join(SCENARIOS))
    parser.add_argument(
        "--duration", required=True, type=_duration_arg, metavar="SECONDS", help="LoadGen's minimum run duration"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help=f"where LoadGen writes its logs (default: ${LOG_DIR_ENV})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the model's weights and images (default: 0)")
    parser.add_argument(
        "--unpaced",
        action="store_true",
        help="Offline: answer as fast as the model goes, for measuring throughput (the run may end early, "
        "INVALID, when the machine is faster than it was timed)",
    )
    return parser


def _format_performance(result: BuiltinResult) -> str:
    if result.performance is None or result.performance_key is None:
        return "not reported"
    if result.performance_key.endswith("_ns"):
        return f"{result.performance / 1e6:.3f} ms ({result.performance_key} = {result.performance:.0f})"
    return f"{result.performance:.1f} samples/s ({result.performance_key})"


def format_summary(result: BuiltinResult) -> str:
    """The few lines the command prints after a run."""
    lines = [
        f"scenario:    {result.scenario}",
        f"validity:    {result.validity or 'not reported'}",
        f"performance: {_format_performance(result)}",
        f"logs:        {result.log_dir}",
    ]
    if result.duration_s < SUBMISSION_MIN_DURATION_S:
        lines.append(
            f"note:        short non-submission run: min duration {result.duration_s:g} s "
            f"is below MLPerf's {SUBMISSION_MIN_DURATION_S:g} s"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_dir: Path | None = args.log_dir
    if log_dir is None:
        env_dir = os.environ.get(LOG_DIR_ENV, "").strip()
        if not env_dir:
            parser.error(f"no log directory: pass --log-dir DIR or set {LOG_DIR_ENV}")
        log_dir = Path(env_dir)
    try:
        result = run_builtin(args.scenario, args.duration, log_dir, seed=args.seed, paced=not args.unpaced)
    except (ValueError, BuiltinBenchmarkError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
