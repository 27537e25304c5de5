"""Benchmark: ``mlpower-analyzer scan`` of a whole tree of results against the official power checker
run folder by folder, the way a submitter checks a submission today.

What is measured
    A tree is built in a temporary folder from the published results in ``../shared/data`` (every
    line of every ``expected.jsonl``), ``--copies`` times over (default 4: 48 results), each copy in its
    submission-tree place (``copyN/<round>/<division>/<submitter>/results/...``; the v2.1 results,
    which are not in a tree, as ``copyN/v2.1/<folder>/performance``). Files are hard links where the
    file system allows, so the tree costs no disk and no copying time.

    * mlpower: one ``mlpower-analyzer scan TREE --json --no-progress`` process (``--jobs``, default the
      core count), ``--repeat`` times; best and median wall time, start-up included. Every row is
      compared with the published figures (power metric and unit, samples in the window, efficiency
      where published, the official verdict where published): a difference is a FAIL line and exit 1.
    * baseline: the official ``power_checker.py`` run on each result folder, one process per folder,
      one after the other (what ``for d in .../performance; do python power_checker.py $d; done`` does).
      The benchmark downloads nothing: give a local copy with ``--official-checker PATH`` (a checker
      used for every result) or ``--official-checker ROUND=PATH`` (one per round, e.g. from the
      inference repository's tags; results of a round without one are then timed with the unqualified
      checker if given, else left out of the baseline). Without one, it says the baseline was not run.
      The checker's exit status is its verdict; mlpower's official verdict must agree with it for every
      result whose round's checker was given.

It prints both times, the speed-up (baseline total / mlpower best) and whether the >= 5x target was
met (MET / NOT MET); ``--json`` prints the figures as one JSON object.

Run ``.venv/bin/python benchmarks/bench_scan.py [--copies N] [--jobs N] [--repeat N]
[--official-checker [ROUND=]PATH ...] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TARGET_SPEEDUP = 5.0
REL_TOLERANCE = 5e-7


@dataclass(frozen=True)
class Result:
    folder: Path  # the performance/ folder in the benchmark's tree
    round: str
    expected: dict[str, Any]


def _link_tree(source: Path, dest: Path) -> None:
    for path in source.rglob("*"):
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def build_tree(data: Path, out: Path, copies: int) -> list[Result]:
    results = []
    for expected_file in sorted(data.glob("*/expected.jsonl")):
        for line in expected_file.read_text().splitlines():
            e = json.loads(line)
            rnd = e["round"]
            source_rel = e["repository_path"] if rnd == "v2.1" else f"{rnd}/{e['repository_path']}"
            source = expected_file.parent / source_rel / "performance"
            for k in range(copies):
                dest = out / f"copy{k}" / rnd / e["repository_path"] / "performance"
                _link_tree(source, dest)
                results.append(Result(dest, rnd, e))
    return results


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= REL_TOLERANCE * abs(b) + 1e-9


def compare_rows(rows: list[dict[str, Any]], results: list[Result], tree: Path) -> list[str]:
    by_path = {r["path"]: r for r in rows}
    problems = []
    for res in results:
        rel = res.folder.relative_to(tree.parent).as_posix()  # a row starts with the scanned folder's name
        row = by_path.get(rel)
        e = res.expected
        if row is None:
            problems.append(f"{rel}: no row")
            continue
        if row.get("error"):
            problems.append(f"{rel}: {row['error']}")
            continue
        if not _close(row["power_metric"], e["power_metric"]) or row["power_unit"] != e["power_unit"]:
            problems.append(f"{rel}: power {row['power_metric']} {row['power_unit']}, published {e['power_metric']}")
        if row["samples_in_window"] != e["samples_in_window"]:
            problems.append(f"{rel}: {row['samples_in_window']} samples, published {e['samples_in_window']}")
        if e.get("published_efficiency") is not None and not _close(row["efficiency"], e["published_efficiency"]):
            problems.append(f"{rel}: efficiency {row['efficiency']}, published {e['published_efficiency']}")
        if e.get("official_power_check") is not None and row["official_verdict"] != e["official_power_check"]:
            problems.append(f"{rel}: official {row['official_verdict']}, published {e['official_power_check']}")
    return problems


def time_scan(tree: Path, jobs: int | None) -> tuple[float, list[dict[str, Any]]]:
    exe = Path(sys.executable).parent / "mlpower-analyzer"
    argv = [str(exe), "scan", str(tree), "--json", "--no-progress", *(["--jobs", str(jobs)] if jobs else [])]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"scan failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return wall_s, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def parse_checkers(specs: list[str]) -> tuple[Path | None, dict[str, Path]]:
    default, per_round = None, {}
    for spec in specs:
        rnd, sep, path = spec.partition("=")
        checker = Path(path if sep else rnd)
        if not checker.is_file():
            raise SystemExit(f"--official-checker {spec}: {checker} is not a file (give power_checker.py)")
        if sep:
            per_round[rnd] = checker
        else:
            default = checker
    return default, per_round


def time_checker(
    results: list[Result], default: Path | None, per_round: dict[str, Path]
) -> tuple[float, int, dict[Path, str]]:
    """Total wall time, results timed, and the checker's verdict of each result whose round it is for."""
    total_s, timed, verdicts = 0.0, 0, {}
    for res in results:
        checker = per_round.get(res.round, default)
        if checker is None:
            continue
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(checker), str(res.folder)], capture_output=True, check=False)
        total_s += time.perf_counter() - start
        timed += 1
        if res.round in per_round or not per_round:
            verdicts[res.folder] = "pass" if done.returncode == 0 else "fail"
    return total_s, timed, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the published results (default 4: 48)")
    parser.add_argument("--jobs", type=int, default=None, help="scan --jobs (default: scan's own, the core count)")
    parser.add_argument("--repeat", type=int, default=3, help="scan runs (default 3)")
    parser.add_argument("--official-checker", action="append", default=[], metavar="[ROUND=]PATH")
    parser.add_argument("--data", type=Path, default=DATA, help=f"published results (default {DATA})")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    default, per_round = parse_checkers(args.official_checker)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        tree = Path(tmp) / "tree"
        results = build_tree(args.data, tree, args.copies)
        print(f"tree: {len(results)} results ({args.copies} copies of {len(results) // args.copies})", file=sys.stderr)
        times_s = []
        rows: list[dict[str, Any]] = []
        for _ in range(args.repeat):
            wall_s, rows = time_scan(tree, args.jobs)
            times_s.append(wall_s)
        failures += compare_rows(rows, results, tree)
        official = {tree.parent / r["path"]: r["official_verdict"] for r in rows}
        baseline_s = timed = None
        if default is not None or per_round:
            baseline_s, timed, verdicts = time_checker(results, default, per_round)
            for folder, verdict in verdicts.items():
                if official.get(folder) != verdict:
                    rel = folder.relative_to(tree)
                    failures.append(
                        f"{rel}: official checker {verdict}, mlpower's official verdict {official.get(folder)}"
                    )
    best_s, median_s = min(times_s), statistics.median(times_s)
    figures: dict[str, Any] = {
        "results": len(results),
        "scan_best_s": best_s,
        "scan_median_s": median_s,
        "scan_per_result_ms": 1000 * best_s / len(results),
        "baseline_s": baseline_s,
        "baseline_results": timed,
        "mismatches": failures,
    }
    if baseline_s is not None and timed:
        # the baseline may cover fewer results (no checker for a round): compare per result
        figures["speedup"] = (baseline_s / timed) / (best_s / len(results))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"mlpower scan: {len(results)} results, best {best_s:.2f} s, median {median_s:.2f} s "
              f"({figures['scan_per_result_ms']:.1f} ms per result)")  # fmt: skip
        if baseline_s is None:
            print("baseline: not run (no --official-checker given; this benchmark downloads nothing)")
        else:
            speedup = figures["speedup"]
            met = "MET" if speedup >= TARGET_SPEEDUP else "NOT MET"
            print(f"official power checker, folder by folder: {timed} results, {baseline_s:.2f} s "
                  f"({1000 * baseline_s / timed:.1f} ms per result)")  # fmt: skip
            print(f"speed-up: {speedup:.1f}x per result (target >= {TARGET_SPEEDUP:.0f}x: {met})")
        for failure in failures:
            print(f"FAIL {failure}")
        if not failures:
            print("figures and official verdicts: all agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
