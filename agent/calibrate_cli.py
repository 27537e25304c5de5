"""``mlpower-agent calibrate``: its command line, the table it prints, and the command that runs a calibration
(:mod:`agent.calibrate`) and writes ``calibration.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.calibrate import LEVEL_ENV, CalibrateOptions, LiveTap, check_options, run_calibration
from agent.client import DirectorClient
from analyzer.calibration import DEFAULT_MAX_LAG_S, DEFAULT_THRESHOLD_PCT
from powerlog.calibration_record import CalibrationRecord
from powerlog.cli_support import EXIT_OK
from powerlog.tokens import MIN_TOKEN_CHARS, token_argument

__all__ = ["add_calibrate_parser", "calibrate_command", "format_calibration"]


def format_calibration(record: CalibrationRecord, path: Path) -> str:
    """The table people read: one line per source, then the notes."""
    sim = "   SIMULATED" if record.simulated else ""
    reference = record.reference.model or record.reference.url or "the director's meter"
    lines = [f"calibration against {reference}{sim}: {len(record.levels)} levels x {record.windows_per_level} "
             f"windows of {record.window_s:g} s (best and worst dropped)"]  # fmt: skip
    head = (
        f"{'source':<22} {'gain':>8} {'offset W':>9} {'lag s':>7} {'rms %':>6} {'max %':>6} {'error %':>8}  qualifies"
    )
    lines.append(head)
    for s in record.sources:
        raw = f"as read {'yes' if s.qualifies_raw else 'no'}, {s.raw_error_pct:+.1f} %"
        lines.append(
            f"{s.name:<22} {s.gain:>8.4f} {s.offset_w:>9.1f} {s.lag_s:>+7.3f} {s.residual_rms_pct:>6.2f} "
            f"{s.residual_max_pct:>6.2f} {s.error_pct:>+8.2f}  {'yes' if s.qualifies else 'NO'} "
            f"(within {s.threshold_pct:g} %; {raw}){'   SIMULATED' if s.simulated else ''}"
        )
    lines += [f"note: {n}" for n in record.notes]
    lines.append(f"written to {path}")
    return "\n".join(lines)


def add_calibrate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="calibrate the GPUs, components, BMCs and PDUs against the wall meter (calibration.json)",
        description="Run idle and two load levels in one session, each in windows, and fit every informative "
        "source (the GPUs added up, RAPL/hwmon, other wall meters) against the director's wall meter: gain, "
        f"offset, lag, residual, and whether it qualifies. A command gets ${LEVEL_ENV} (load1 or load2).",
        usage="mlpower-agent calibrate --director URL (--token T | --token-file F) [--out DIR] [--window-s S] "
        "[--windows N] [--settle-s S] [--qualify-pct PCT] [--gpus SPEC] [--components SPEC] [-- COMMAND ARGS...]",
    )
    cal.add_argument("--director", required=True, help="director URL, e.g. http://127.0.0.1:4950")
    token = cal.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", type=token_argument, help=f"the director's token (at least {MIN_TOKEN_CHARS} chars)")
    token.add_argument("--token-file", type=Path, help="file holding the director's token")
    cal.add_argument("--out", type=Path, default=Path("mlpower-calibration"), help="where calibration.json goes")
    cal.add_argument("--window-s", type=float, default=60.0, help="seconds per window (default 60, as the rules ask)")
    cal.add_argument("--windows", type=int, default=5, help="windows per level (default 5, as the rules ask)")
    cal.add_argument("--settle-s", type=float, default=10.0, help="wait at each level before its windows (10)")
    cal.add_argument("--qualify-pct", type=float, default=DEFAULT_THRESHOLD_PCT, help="qualification threshold (5 %%)")
    cal.add_argument("--max-lag-s", type=float, default=DEFAULT_MAX_LAG_S, help="largest lag searched (5 s)")
    cal.add_argument("--gpus", default="auto", help="auto, nvml, nvml:0,2, sim:N (SIMULATED) or none (default auto)")
    cal.add_argument("--gpu-rate-hz", type=float, default=10.0, help="GPU power polling rate (default 10)")
    cal.add_argument("--components", default="none", help="component sensors as for `run` (default none)")
    cal.add_argument("--component-rate-hz", type=float, default=10.0, help="component sampling rate (default 10)")
    cal.add_argument("--ca-file", type=Path, help="trust this certificate (PEM) for an https director")
    cal.add_argument("--retry-s", type=float, default=60.0, help="keep trying an unreachable director this long")
    cal.add_argument("load", nargs=argparse.REMAINDER, help="-- COMMAND ARGS... (the load; default built-in)")


def calibrate_command(args: argparse.Namespace, token: str) -> int:
    """``mlpower-agent calibrate``: 0 when calibration.json was written."""
    from agent.components.sysfs_source import open_components
    from agent.gpu.select import open_gpus

    command = tuple(a for a in args.load if a != "--") if args.load else None
    options = CalibrateOptions(
        out_dir=args.out,
        command=command or None,
        window_s=args.window_s,
        windows=args.windows,
        settle_s=args.settle_s,
        qualify_pct=args.qualify_pct,
        max_lag_s=args.max_lag_s,
        gpus=open_gpus(args.gpus, print),
        gpu_rate_hz=args.gpu_rate_hz,
        components=open_components(args.components),
        component_rate_hz=args.component_rate_hz,
    )
    check_options(options)
    tap = LiveTap(args.director, token, args.ca_file)
    with DirectorClient(args.director, token, retry_s=args.retry_s, ca_file=args.ca_file) as client:
        outcome = run_calibration(options, client, tap)
    print(format_calibration(outcome.record, outcome.path))
    return EXIT_OK
