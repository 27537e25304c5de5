"""``mlpower-analyzer scan`` and ``compare``: many results at once (see :mod:`analyzer.scan`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analyzer.compare import render_comparison, render_scan
from analyzer.leaderboard import render_leaderboard
from analyzer.scan import COLUMNS, ScanResult, default_jobs, scan_results
from analyzer.table import json_lines, sort_rows, write_csv, write_parquet
from powerlog.cli_support import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_UNREADABLE,
    atomic_output,
    check_output_path,
    dump_json,
)

__all__ = ["add_compare_command", "add_scan_command", "run_compare", "run_scan"]

SCAN_HELP = (
    "every power result under the paths (a submission tree, a folder of mlpower runs, result folders), "
    "analyzed in parallel, one row each (exit 0 all analyzed and officially passing; 1 any result fails the "
    "official check or cannot be analyzed; 2 none found or --round unknown)"
)
COMPARE_HELP = (
    "the headline figures of several results side by side (a folder argument is searched like scan; "
    "exit 2 when no argument holds a result)"
)


def _sort_column(text: str) -> str:
    if text.lstrip("-+") not in COLUMNS:
        raise argparse.ArgumentTypeError(f"no column {text.lstrip('-+')!r}; one of {', '.join(COLUMNS)}")
    return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help=f"worker processes (default: the cores this machine gives the analyzer, here {default_jobs()})",
    )
    p.add_argument(
        "--sort",
        default=None,
        type=_sort_column,
        metavar="COLUMN",
        help=f"sort by a column, '-COLUMN' for descending; one of {', '.join(COLUMNS)}",
    )
    p.add_argument("--html", type=Path, metavar="OUT.html", help="also write the leaderboard page (offline HTML)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when not on a terminal)")


def add_scan_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], round_help: str) -> None:
    p = sub.add_parser("scan", help=SCAN_HELP, description=SCAN_HELP)
    p.add_argument("paths", metavar="PATH", nargs="+", help="folders to search")
    p.add_argument("--json", action="store_true", help="print JSON lines (one object per result) instead of a table")
    p.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the rows as CSV")
    p.add_argument("--parquet", type=Path, metavar="OUT.parquet", help="also write the rows as Parquet")
    p.add_argument("--round", default=None, help=f"{round_help}; applies to every result")
    _common(p)


def add_compare_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], context_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    p = sub.add_parser("compare", help=COMPARE_HELP, description=COMPARE_HELP)
    p.add_argument("paths", metavar="RUN", nargs="+", help="result folders (performance/ or a run folder)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _common(p)
    context_options(p)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("analyzing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("analyzing", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _run(args: argparse.Namespace, benchmark: str | None = None, scenario: str | None = None) -> ScanResult:
    with _progress(not args.no_progress) as progress:
        result = scan_results(
            args.paths, jobs=args.jobs, round_name=args.round, benchmark=benchmark, scenario=scenario, progress=progress
        )
    for note in result.notes:
        print(f"mlpower-analyzer: {note}", file=sys.stderr)
    return result


def _write_html(result: ScanResult, out: Path, title: str) -> None:
    with atomic_output(out, "--html") as partial:
        page = render_leaderboard(result.rows, result.notes, title=title, page_dir=out.resolve().parent)
        partial.write_text(page, encoding="utf-8")
    print(f"leaderboard: {out}", file=sys.stderr)


def run_scan(args: argparse.Namespace) -> int:
    for option in ("csv", "parquet", "html"):  # before the scan, which can take minutes
        if getattr(args, option):
            check_output_path(getattr(args, option), f"--{option}")
    result = _run(args)
    if not result.rows:
        return EXIT_UNREADABLE
    rows = sort_rows(result.rows, args.sort)
    sys.stdout.write(json_lines(rows) if args.json else render_scan(rows) + "\n")
    if args.csv:
        write_csv(rows, args.csv)
    if args.parquet:
        write_parquet(rows, args.parquet)
    if args.html:
        _write_html(ScanResult(tuple(rows), result.notes), args.html, "mlpower scan")
    failed = any(r.error is not None or r.official_verdict != "pass" for r in rows)
    return EXIT_ERRORS if failed else EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    if args.html:
        check_output_path(args.html, "--html")
    result = _run(args, args.benchmark, args.scenario)
    if not result.rows:
        return EXIT_UNREADABLE
    rows = sort_rows(result.rows, args.sort)
    print(dump_json([r.to_dict() for r in rows]) if args.json else render_comparison(rows))
    if args.html:
        _write_html(ScanResult(tuple(rows), result.notes), args.html, "mlpower comparison")
    return EXIT_OK
