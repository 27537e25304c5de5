"""``mlpower-analyzer export``: a result's wall samples as one CSV or Parquet file.

The rows are :meth:`analyzer.result.Result.samples` of the phase asked for (both phases: ranging then
testing, with a ``phase`` column first); the index ``time_utc`` is written as the first column (ISO 8601
UTC text in CSV, ``2022-07-30T04:27:55.356Z``; a UTC ns timestamp in Parquet). The file appears whole or
not at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analyzer.errors import AnalyzerError
from analyzer.result import INDEX_NAME, PHASES, Result, open_result, phase_name
from analyzer.rounds import NEWEST_ROUND, ROUNDS
from powerlog.cli_support import EXIT_ERRORS, EXIT_OK, EXIT_UNREADABLE, atomic_output, check_output_path
from powerlog.errors import OutputPathError

__all__ = ["BOTH", "EXPORT_HELP", "add_export_command", "export_frame", "run_export", "write_samples"]

BOTH = "both"
EXPORT_HELP = (
    "write the wall samples of a result (spl.txt, one row per sample, with in_window) as CSV or Parquet "
    "(exit 0 written; 1 the output cannot be written; 2 the folder cannot be read or --round is unknown)"
)


def export_frame(result: Result, phases: Sequence[str]) -> pd.DataFrame:
    """The wall samples of ``phases`` (``ranging``, ``testing``), one after the other; with more than one
    phase, a ``phase`` column first says which each row is from."""
    names = [phase_name(p) for p in phases]
    if len(names) == 1:
        return result.samples(names[0])
    frames = []
    for name in names:
        frame = result.samples(name)
        frame.insert(0, "phase", name)
        frames.append(frame)
    combined = pd.concat(frames)
    combined.index.name = INDEX_NAME
    return combined


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its UTC index as ISO 8601 text (``2022-07-30T04:27:55.356Z``), as precise as each time
    needs (to the ns), where pandas would write ``2022-07-30 04:27:55.356000+00:00``."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        return frame
    t = frame.index.as_unit("ns").tz_convert("UTC").asi8.astype("datetime64[ns]")
    text = np.datetime_as_string(t, unit="auto", timezone="UTC")
    return frame.set_axis(pd.Index(text, name=INDEX_NAME), axis="index")


def write_samples(frame: pd.DataFrame, out: Path | str, fmt: str) -> Path:
    """Write ``frame`` to ``out`` as ``csv`` or ``parquet``, through a temporary file renamed at the end
    (only as a new file or over a regular one: :class:`~powerlog.errors.OutputPathError` otherwise)."""
    target = Path(out)
    with atomic_output(target, f"--{fmt}") as partial:
        if fmt == "csv":
            _iso_times(frame).to_csv(partial, index_label=INDEX_NAME)
        elif fmt == "parquet":
            frame.to_parquet(partial, engine="pyarrow")
        else:
            raise ValueError(f"unknown format {fmt!r}: csv or parquet")
    return target


def add_export_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help=EXPORT_HELP, description=EXPORT_HELP)
    p.add_argument("perf_dir", metavar="PERF_DIR", help="folder holding run_1/ and ranging/ (and power/)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", type=Path, metavar="OUT.csv", help="write CSV")
    out.add_argument("--parquet", type=Path, metavar="OUT.parquet", help="write Parquet")
    p.add_argument(
        "--phase",
        choices=[*PHASES, BOTH],
        default="testing",
        help="which phase's samples (default: testing); both: ranging then testing, with a phase column",
    )
    p.add_argument(
        "--round",
        default=None,
        help=f"MLPerf round (one of {', '.join(ROUNDS)}): checked as for report; the samples do not depend on it "
        f"(default: detected, {NEWEST_ROUND} when it cannot be)",
    )


def run_export(args: argparse.Namespace) -> int:
    phases = list(PHASES) if args.phase == BOTH else [args.phase]
    fmt, out = ("csv", args.csv) if args.csv is not None else ("parquet", args.parquet)
    try:
        check_output_path(out, f"--{fmt}")  # before the folder is read
        result = open_result(args.perf_dir, args.round)
        frame = export_frame(result, phases)
    except (AnalyzerError, OutputPathError) as e:
        print(f"mlpower-analyzer: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        write_samples(frame, out, fmt)
    except OutputPathError as e:  # replaced by something else while the samples were read
        print(f"mlpower-analyzer: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    except OSError as e:
        print(f"mlpower-analyzer: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERRORS
    for phase in phases:
        if result.run.phases[phase_name(phase)].spl is None:
            print(f"mlpower-analyzer: {phase}: no readable spl.txt, no samples", file=sys.stderr)
    print(f"{len(frame)} samples ({', '.join(phases)}): {out}", file=sys.stderr)
    return EXIT_OK
