"""``mlpower-agent sweep``'s command line: run's options plus the power limits, the sweep's folder and ``--resume``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agent.client import DirectorClient
from agent.errors import AgentError
from agent.gpu.select import open_gpus
from agent.gpu.sim_limit_model import SIM_STATE_ENV
from agent.run import RunOptions, SessionOutcome, run_session
from agent.sweep import SweepOptions, parse_limits, run_sweep
from powerlog.cli_support import EXIT_OK
from powerlog.wire import GivenRanges

__all__ = ["RUNS_DIR", "add_sweep_parser", "sweep_command"]

RUNS_DIR = "runs"  # each setting's run, under --out


def _limits(text: str) -> tuple[float, ...]:
    try:
        return parse_limits(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--gpu-power-limit-w {text!r}: ")) from None


def add_sweep_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run: argparse.ArgumentParser) -> None:
    """``sweep``: every option of ``run`` (the parent parser ``run``, whose actions it shares: a default changed here
    would change run's), and its own."""
    sweep = sub.add_parser(
        "sweep",
        parents=[run],
        help="measure the benchmark at several GPU power limits and find the most efficient valid one",
        description="One full measurement session (ranging and testing) per GPU power limit, in the order given, "
        "each limit set on every selected GPU and put back afterwards (also after a kill: the original limits are "
        "journalled in --out and restored at the next start). Writes sweep.json (after every finished setting), "
        "sweep.parquet and sweep.html (the efficiency frontier) in --out; see docs/maxq.md.",
        usage="mlpower-agent sweep --director URL (--token T | --token-file F) --gpu-power-limit-w W,W,... "
        "[--out DIR] [--resume] [--gpus SPEC] [run's options]\n"
        "       (--benchmark builtin|builtin-llm [--scenario S] [--duration SECONDS] | -- COMMAND ARGS...)",
    )
    sweep.add_argument(
        "--gpu-power-limit-w",
        type=_limits,
        required=True,
        metavar="W,W,...",
        help="the power limits to measure, in watts, in this order (each within every GPU's range)",
    )
    sweep.add_argument("--resume", action="store_true", help="keep the settings sweep.json in --out has finished")
    sweep.add_argument(
        "--testing-only",
        action="store_true",
        help="faster: measure the first setting in full, the others in a testing phase only on its testing ranges "
        "(labelled not submittable)",
    )


def sweep_command(
    args: argparse.Namespace, token: str, run_options: Callable[[Path, str], RunOptions], say: Callable[[str], None]
) -> int:
    """The sweep: ``run_options(out_dir, label)`` gives each setting's run its options (a fresh GPU source each)."""
    if (args.gpus or "").strip() == "none":
        raise AgentError("a sweep sets GPU power limits: give --gpus (auto, nvml, nvml:0,2 or sim:N), not none")
    out: Path = args.out
    if args.gpus.strip().startswith("sim:") and not os.environ.get(SIM_STATE_ENV):
        os.environ[SIM_STATE_ENV] = str(out / "sim-gpus")  # the limits, seen by the sampler and the benchmark
        say(f"SIMULATED GPUs: their limits kept in {out / 'sim-gpus'} (${SIM_STATE_ENV})")
    control = open_gpus(args.gpus, say)
    if control is None:
        raise AgentError("no GPU to set limits on (--gpus auto found none): give --gpus nvml or sim:N")
    label = args.label or "sweep"
    options = SweepOptions(
        args.gpu_power_limit_w, out, resume=args.resume, gpus_spec=args.gpus, testing_only=args.testing_only
    )

    def measure(watts: float, ranges: GivenRanges | None) -> SessionOutcome:
        run = replace(run_options(out / RUNS_DIR, f"{label}-{watts:g}W"), testing_ranges=ranges)
        return run_session(run, client)

    with DirectorClient(args.director, token, retry_s=args.retry_s, ca_file=args.ca_file) as client:
        run_sweep(options, control, measure, say)
    return EXIT_OK
