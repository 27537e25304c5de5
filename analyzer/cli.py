"""``mlpower-analyzer``: report and check MLPerf power result folders."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analyzer.cli_results import add_compare_command, add_scan_command, run_compare, run_scan
from analyzer.errors import AnalyzerError
from analyzer.export import add_export_command, run_export
from analyzer.metrics import Scenario
from analyzer.render import render_findings, render_report
from analyzer.result import Result, open_result
from analyzer.rounds import NEWEST_ROUND, ROUNDS, get_round
from powerlog.cli_support import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_UNREADABLE,
    atomic_output,
    check_output_path,
    dump_json,
    version_string,
)
from powerlog.errors import OutputPathError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpower-analyzer",
        description="Compute the MLPerf power metric of a result folder and check it against the power rules.",
    )
    parser.add_argument("--version", action="version", version=version_string("mlpower-analyzer"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        (
            "report",
            "official metric and breakdown (exit 0; 1 when the metric cannot be computed; "
            "2 when the folder cannot be read or --round is unknown)",
        ),
        (
            "check",
            "rule-by-rule verdict (exit 0 no errors, 1 any error; 2 when the folder cannot be read "
            "or --round is unknown)",
        ),
    ):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("perf_dir", metavar="PERF_DIR", help="folder holding run_1/ and ranging/ (and power/)")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "report":
            p.add_argument("--html", type=Path, metavar="OUT.html", help="also write a self-contained HTML report")
            p.add_argument(
                "--calibration",
                type=Path,
                metavar="FILE",
                help="apply this calibration.json (mlpower-agent calibrate) to the GPUs and components: their "
                "corrected wall estimate beside the raw readings; default: the folder's power/calibration.json, if any",
            )
        _context_options(p)
    add_compare_command(sub, _context_options)
    add_scan_command(sub, ROUND_HELP)
    add_export_command(sub)
    return parser


ROUND_HELP = (
    f"MLPerf round whose rules apply (one of {', '.join(ROUNDS)}); default: detected from the folder "
    f"(its place in a submission tree, PTDaemon and LoadGen versions), {NEWEST_ROUND} when it cannot be"
)


def _context_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", default=None, help=ROUND_HELP)
    p.add_argument(
        "--benchmark",
        default=None,
        help="benchmark of the result (llama2-70b-99, resnet50, ...): chooses the performance key; default: the "
        "submission-tree folder, if any",
    )
    p.add_argument(
        "--scenario",
        default=None,
        choices=[s.value for s in Scenario],
        help="scenario the result is filed under; default: the submission-tree folder, else LoadGen's",
    )


def _open(args: argparse.Namespace, checks: bool = True) -> Result:
    calibration = getattr(args, "calibration", None)
    return open_result(
        args.perf_dir,
        args.round,
        benchmark=args.benchmark,
        scenario=args.scenario,
        checks=checks,
        calibration=calibration,
    )


def _report(args: argparse.Namespace) -> int:
    if args.html:
        check_output_path(args.html, "--html")  # before the folder is read
    # --html needs what the checks read as well: then the folder is read once, in full
    result = _open(args, checks=bool(args.html))
    report = result.report()
    print(dump_json(report.to_json_obj()) if args.json else render_report(report))
    if args.html:
        with atomic_output(args.html, "--html") as partial:
            partial.write_text(result.html(), encoding="utf-8")
        print(f"HTML report: {args.html}", file=sys.stderr)
    return EXIT_OK if report.power_metric is not None else EXIT_ERRORS


def _check(args: argparse.Namespace) -> int:
    result = _open(args)
    findings, official = result.check(), result.official_checks()
    if args.json:
        print(dump_json(result.check_record().to_json_obj()))
    else:
        print(render_findings(findings, result.verdict, str(result.folder), result.context, official))
    return EXIT_ERRORS if any(f.is_error for f in findings) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.round is not None:
            get_round(args.round)  # an unknown round is refused before any folder is read
        command = {"export": run_export, "compare": run_compare, "scan": run_scan, "report": _report}
        return command.get(args.command, _check)(args)
    except (AnalyzerError, OutputPathError) as e:
        print(f"mlpower-analyzer: {e}", file=sys.stderr)
        return EXIT_UNREADABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
