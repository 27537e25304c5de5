"""Benchmark: fuzz every parser with hypothesis, 10,000 cases a target; typed errors only, no hangs.

Targets (see ``benchmarks/fuzz_targets.py``): PTD timestamps, spl.txt, ptd_logs.txt, LoadGen's
MLLOG detail log, PTDaemon replies (one-line replies and the RL sample stream) and the Yokogawa
WT310/WT330 SCPI replies. Each target runs in its own process: its ``--cases`` hypothesis examples,
each under a per-case time limit (``--limit-ms``, SIGALRM), with a faulthandler watchdog that kills
the process if a case is stuck in C code past 5x the limit. A case fails when the parser raises
anything but its package's own errors (PowerlogError, DirectorError), when two readers that must
agree do not, or when it runs past the limit (a hang). Exit status 1 on any failure.

Run: ``.venv/bin/python benchmarks/bench_fuzz.py [--cases 10000] [--seed N] [--targets a,b] [--json]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import faulthandler
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from fuzz_targets import TARGETS, CaseTimeout, Inconsistent, Tally, run_case  # this folder, as a script runs
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Flaky

MAX_QUOTED = 400
HEALTH_CHECKS = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]


def _quote(case: Any) -> str:
    text = repr(case)
    return text if len(text) <= MAX_QUOTED else f"{text[:MAX_QUOTED]}... ({len(text)} characters)"


class _Watchdog:
    """faulthandler's C thread: dumps every stack and exits if one case is stuck, even inside C code."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def arm(self) -> None:
        faulthandler.dump_traceback_later(self.seconds, exit=True)

    def disarm(self) -> None:
        faulthandler.cancel_dump_traceback_later()


def run_worker(name: str, cases: int, seed_value: int, limit_s: float) -> dict[str, Any]:
    """Run one target in this process; the figures and the failure (if any) as a dict."""
    target = TARGETS[name]
    tally = Tally()
    figures: dict[str, Any] = {"cases": 0, "slowest_s": 0.0, "slowest_case": ""}
    times_s: list[float] = []
    last: dict[str, Any] = {"case": None, "failing": None}
    watchdog = _Watchdog(5 * limit_s)

    @seed(seed_value)
    @settings(
        max_examples=cases,
        deadline=None,  # timed here instead: a hang must stop the run, not be retried and shrunk
        database=None,
        derandomize=False,
        suppress_health_check=HEALTH_CHECKS,
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(target.strategy)
    def fuzz(case: Any) -> None:
        figures["cases"] += 1
        last["case"] = case
        watchdog.arm()
        try:
            elapsed = run_case(target, case, tally, limit_s)
        except Exception:
            last["failing"] = case  # hypothesis replays the shrunk example last
            raise
        finally:
            watchdog.disarm()
        times_s.append(elapsed)
        if elapsed > figures["slowest_s"]:
            figures["slowest_s"], figures["slowest_case"] = elapsed, case

    failure: dict[str, Any] | None = None
    start = time.perf_counter()
    try:
        fuzz()
    except CaseTimeout as e:
        failure = {"kind": "hang", "type": "CaseTimeout", "message": str(e), "input": _quote(last["case"])}
    except Flaky as e:
        failure = {"kind": "flaky", "type": type(e).__name__, "message": str(e)[:600], "input": _quote(last["failing"])}
    except Exception as e:
        failure = {
            "kind": "inconsistent" if isinstance(e, Inconsistent) else "untyped",
            "type": type(e).__name__,
            "message": str(e)[:600],
            "input": _quote(last["failing"]),
        }
    wall_s = time.perf_counter() - start
    return {
        "target": name,
        "calls_what": target.calls,
        "cases": figures["cases"],
        "calls": tally.calls,
        "parsed": tally.parsed,
        "typed_errors": tally.typed,
        "slowest_ms": figures["slowest_s"] * 1000,
        "slowest_case": _quote(figures["slowest_case"]),
        "mean_ms": statistics.fmean(times_s) * 1000 if times_s else float("nan"),
        "p99_ms": statistics.quantiles(times_s, n=100)[98] * 1000 if len(times_s) > 1 else float("nan"),
        "wall_s": wall_s,
        "seed": seed_value,
        "failure": failure,
    }


def _run_in_subprocess(name: str, args: argparse.Namespace, seed_value: int) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--worker", name, "--cases", str(args.cases)]
    command += ["--seed", str(seed_value), "--limit-ms", str(args.limit_ms)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.worker_timeout)
    except subprocess.TimeoutExpired:
        done = None
    wall_s = time.perf_counter() - start
    if done is not None and done.returncode == 0:
        try:
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            verdict = "ok" if figures["failure"] is None else figures["failure"]["kind"].upper()
            print(f"{name}: {figures['cases']} cases in {figures['wall_s']:.1f} s: {verdict}", file=sys.stderr)
            return figures
        except (ValueError, IndexError):
            pass
    if done is None:
        kind, why = "hang", f"no result within {args.worker_timeout} s"
    else:  # faulthandler's watchdog prints "Timeout (h:mm:ss)!" and the stacks before it exits
        kind = "hang" if "Timeout (" in done.stderr else "crash"
        why = f"worker exited with status {done.returncode}: {(done.stderr or done.stdout)[-2000:]}"
    print(f"{name}: {kind.upper()} ({why[:200]})", file=sys.stderr)
    return {
        "target": name,
        "calls_what": TARGETS[name].calls,
        "cases": 0,
        "calls": 0,
        "parsed": 0,
        "typed_errors": 0,
        "slowest_ms": float("nan"),
        "slowest_case": "",
        "mean_ms": float("nan"),
        "p99_ms": float("nan"),
        "wall_s": wall_s,
        "seed": seed_value,
        "failure": {"kind": kind, "type": "worker", "message": why, "input": "(see the message)"},
    }


def _print_table(results: list[dict[str, Any]], cases: int, limit_ms: float, total_s: float, seed_value: int) -> None:
    header = ("target", "cases", "calls", "parsed", "typed err", "mean ms", "p99 ms", "slowest ms", "wall s", "result")
    rows = [
        (
            r["target"],
            str(r["cases"]),
            str(r["calls"]),
            str(r["parsed"]),
            str(r["typed_errors"]),
            f"{r['mean_ms']:.2f}",
            f"{r['p99_ms']:.1f}",
            f"{r['slowest_ms']:.1f}",
            f"{r['wall_s']:.1f}",
            "ok" if r["failure"] is None else r["failure"]["kind"].upper(),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    print(f"fuzz: {cases} hypothesis cases a target, per-case limit {limit_ms:.0f} ms, seed {seed_value}")
    print(line(header))
    for row in rows:
        print(line(row))
    for r in results:
        print(f"  {r['target']}: {r['calls_what']}")
    for r in results:
        if r["failure"] is not None:
            f = r["failure"]
            print(f"\n{f['kind'].upper()} in {r['target']}: {f['type']}: {f['message']}")
            print(f"  input: {f['input']}")
            print(f"  reproduce: --targets '{r['target']}' --seed {r['seed']} --cases {cases}")
    slowest = max(results, key=lambda r: r["slowest_ms"] if r["slowest_ms"] == r["slowest_ms"] else -1)
    print(
        f"\nslowest case overall: {slowest['slowest_ms']:.1f} ms ({slowest['target']}): {slowest['slowest_case'][:200]}"
    )
    print("\nfor a note:")
    print("| target | cases | typed errors / calls | p99 case | slowest case | untyped / hangs |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        verdict = "none" if r["failure"] is None else f"{r['failure']['kind']}: {r['failure']['type']}"
        figures = f"{r['cases']} | {r['typed_errors']} / {r['calls']} | {r['p99_ms']:.1f} ms | {r['slowest_ms']:.1f} ms"
        print(f"| {r['target']} | {figures} | {verdict} |")
    print(f"\ntotal wall time {total_s:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="hypothesis examples per target (default 10000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a random one, printed)")
    parser.add_argument("--limit-ms", type=float, default=2000.0, help="per-case time limit; longer is a hang")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, from: {', '.join(TARGETS)}")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once (timings are cleaner with 1)")
    parser.add_argument("--worker-timeout", type=float, default=3600.0, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else int.from_bytes(os.urandom(8), "big")

    if args.worker is not None:
        print(json.dumps(run_worker(args.worker, args.cases, seed_value, args.limit_ms / 1000)))
        return 0

    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda name: _run_in_subprocess(name, args, seed_value), names))
    total_s = time.perf_counter() - start
    passed = all(r["failure"] is None for r in results)
    if args.json:
        print(json.dumps({"cases": args.cases, "limit_ms": args.limit_ms, "seed": seed_value, "total_wall_s": total_s,
                          "passed": passed, "targets": results}))  # fmt: skip
    else:
        _print_table(results, args.cases, args.limit_ms, total_s, seed_value)
        failed = [r["target"] for r in results if r["failure"] is not None]
        print("PASS: typed errors only, no hangs" if passed else f"FAIL: {', '.join(failed)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
