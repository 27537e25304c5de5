"""``python -m agent.builtin``: run the built-in benchmark under LoadGen and summarise it.

``--model cnn`` (the default) is the numpy CNN; ``--model llm`` the token-streaming numpy transformer
(Offline, Server, Interactive). The LLM runs numpy's BLAS on one thread (:data:`SINGLE_THREAD_ENV` = 1): its
matrices are small, and BLAS threads contending for a busy machine's cores made it 10 to 20 times slower
(2 cores, other processes busy). Those variables are read when numpy loads, before this module runs, so
the command starts itself again with them set (a value already in the environment is kept).
"""

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
    run_builtin,
)
from agent.builtin.llm_harness import LLM_SCENARIOS, LlmResult, run_builtin_llm
from agent.workload import LOADGEN_DIR_ENV

__all__ = ["LOG_DIR_ENV", "MODELS", "SINGLE_THREAD_ENV", "build_parser", "format_llm_summary", "format_summary", "main"]

LOG_DIR_ENV = LOADGEN_DIR_ENV  # the folder the agent names for LoadGen
PROG = "python -m agent.builtin"
MODELS = {"cnn": tuple(SCENARIOS), "llm": LLM_SCENARIOS}
"""Each model and the scenarios it runs."""
SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_ALL_SCENARIOS = tuple(dict.fromkeys(name for names in MODELS.values() for name in names))


def _scenario_arg(text: str) -> str:
    for name in _ALL_SCENARIOS:
        if text.strip().lower() == name.lower():
            return name
    raise argparse.ArgumentTypeError(f"unknown scenario {text!r}: choose one of {', '.join(_ALL_SCENARIOS)}")


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
        description="Run the built-in benchmark (a tiny numpy CNN, or with --model llm a tiny numpy transformer "
        "streaming tokens) under MLPerf LoadGen in one scenario.",
    )
    parser.add_argument(
        "--model",
        choices=list(MODELS),
        default="cnn",
        help="cnn (default): images, " + " | ".join(MODELS["cnn"]) + "; llm: tokens, " + " | ".join(MODELS["llm"]),
    )
    parser.add_argument("--scenario", required=True, type=_scenario_arg, help=" | ".join(_ALL_SCENARIOS))
    parser.add_argument(
        "--duration", required=True, type=_duration_arg, metavar="SECONDS", help="LoadGen's minimum run duration"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help=f"where LoadGen writes its logs (default: ${LOG_DIR_ENV})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the model's weights and data (default: 0)")
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
    if result.simulated_speed is not None:
        lines.append(f"SIMULATED:   the model ran at {result.simulated_speed:.3g} of its speed (a simulated GPU limit)")
    return "\n".join(lines)


def _format_ns(value_ns: float | None) -> str:
    return "not reported" if value_ns is None else f"{value_ns / 1e6:.1f} ms"


def format_llm_summary(result: LlmResult) -> str:
    """The lines the command prints after an LLM run."""
    validity = result.validity or "not reported"
    if result.unmet:
        validity += f" ({', '.join(result.unmet)} false)"
    performance = "not reported" if result.performance is None else f"{result.performance:.1f} tokens/s"
    lines = [
        f"scenario:    {result.scenario}"
        + (" (LoadGen's Server with tighter limits)" if result.scenario == "Interactive" else ""),
        f"validity:    {validity}",
        f"performance: {performance} ({result.performance_key})",
    ]
    if result.ttft_limit_ns is not None or result.tpot_limit_ns is not None:
        lines.append(f"TTFT p99:    {_format_ns(result.ttft_p99_ns)} (limit {_format_ns(result.ttft_limit_ns)})")
        lines.append(f"TPOT p99:    {_format_ns(result.tpot_p99_ns)} (limit {_format_ns(result.tpot_limit_ns)})")
    lines += [f"queries:     {result.queries}", f"logs:        {result.log_dir}", f"query log:   {result.query_log}"]
    if "result_perf_constraints_met" in result.unmet:
        lines.append(
            "note:        a TTFT or TPOT limit was exceeded at the 99th percentile: the machine was slower (busier) "
            "during the run than when the model was timed before it"
        )
    elif "early_stopping_met" in result.unmet:
        lines.append("note:        LoadGen's early stopping needs a few hundred queries for the 99th percentile")
    if result.duration_s < SUBMISSION_MIN_DURATION_S:
        lines.append(
            f"note:        short non-submission run: min duration {result.duration_s:g} s "
            f"is below MLPerf's {SUBMISSION_MIN_DURATION_S:g} s"
        )
    return "\n".join(lines)


def _single_threaded_blas() -> None:
    """Start this command again with one BLAS thread unless the environment already says how many."""
    missing = [name for name in SINGLE_THREAD_ENV if name not in os.environ]
    if missing:
        env = {**os.environ, **dict.fromkeys(missing, "1")}
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "agent.builtin", *sys.argv[1:]], env)


def main(argv: Sequence[str] | None = None, restart_single_threaded: bool = False) -> int:
    """The command; ``restart_single_threaded`` (the command line's own process only) lets an LLM run start
    itself again with one BLAS thread (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scenario not in MODELS[args.model]:
        parser.error(f"--model {args.model} runs {', '.join(MODELS[args.model])}, not {args.scenario}")
    if args.model == "llm" and restart_single_threaded:
        _single_threaded_blas()
    log_dir: Path | None = args.log_dir
    if log_dir is None:
        env_dir = os.environ.get(LOG_DIR_ENV, "").strip()
        if not env_dir:
            parser.error(f"no log directory: pass --log-dir DIR or set {LOG_DIR_ENV}")
        log_dir = Path(env_dir)
    try:
        if args.model == "llm":
            llm = run_builtin_llm(args.scenario, args.duration, log_dir, seed=args.seed, paced=not args.unpaced)
            print(format_llm_summary(llm))
        else:
            result = run_builtin(args.scenario, args.duration, log_dir, seed=args.seed, paced=not args.unpaced)
            print(format_summary(result))
    except (ValueError, BuiltinBenchmarkError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(restart_single_threaded=True))
