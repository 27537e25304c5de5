"""``mlpower-analyzer``: report and check MLPerf power result folders."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analyzer.checks import check_run, verdict
from analyzer.compare import comparison_rows, render_comparison, render_comparison_html
from analyzer.errors import AnalyzerError
from analyzer.html import render_html
from analyzer.render import render_findings, render_report
from analyzer.report import build_report
from analyzer.rounds import DEFAULT_ROUND, ROUNDS, Round, get_round
from analyzer.run import load_run
from powerlog.cli_support import EXIT_ERRORS, EXIT_OK, EXIT_UNREADABLE, dump_json, version_string
from powerlog.spl import SPL_FIELDS

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
            "--round",
            default=DEFAULT_ROUND,
            help=f"MLPerf round whose rules apply (one of {', '.join(ROUNDS)}; default {DEFAULT_ROUND})",
        )
    compare = sub.add_parser(
        "compare",
        help="perf/W, W or mJ/query of several runs side by side",
        description="The headline figures of several result folders side by side.",
    )
    compare.add_argument("perf_dirs", metavar="RUN", nargs="+", help="result folders (performance/ or a run folder)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare.add_argument("--html", type=Path, metavar="OUT.html", help="also write the table as HTML")
    compare.add_argument("--round", default=DEFAULT_ROUND, help=f"MLPerf round (default {DEFAULT_ROUND})")
    return parser


def _compare(args: argparse.Namespace, round_: Round) -> int:
    rows = comparison_rows([build_report(load_run(path), round_) for path in args.perf_dirs])
    print(dump_json(rows) if args.json else render_comparison(rows))
    if args.html:
        args.html.write_text(render_comparison_html(rows), encoding="utf-8")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        round_ = get_round(args.round)
        if args.command == "compare":
            return _compare(args, round_)
        if args.command == "report":
            run = load_run(args.perf_dir)
            report = build_report(run, round_)
            print(dump_json(report.to_dict()) if args.json else render_report(report))
            if args.html:
                full = load_run(args.perf_dir, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
                args.html.write_text(render_html(report, full, check_run(full, round_)), encoding="utf-8")
                print(f"HTML report: {args.html}", file=sys.stderr)
            return EXIT_OK if report.power_metric is not None else EXIT_ERRORS
        run = load_run(args.perf_dir, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
        findings = check_run(run, round_)
        result = verdict(findings)
        if args.json:
            print(
                dump_json(
                    {
                        "folder": str(run.folder.root),
                        "round": round_.name,
                        "verdict": result.value,
                        "errors": sum(1 for f in findings if f.is_error),
                        "findings": [f.to_dict() for f in findings],
                    }
                )
            )
        else:
            print(render_findings(findings, result, str(run.folder.root), round_.name))
        return EXIT_ERRORS if any(f.is_error for f in findings) else EXIT_OK
    except AnalyzerError as e:
        print(f"mlpower-analyzer: {e}", file=sys.stderr)
        return EXIT_UNREADABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
