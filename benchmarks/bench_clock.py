"""Benchmark: how well the agent measures its clock offset to the director.

A real director process (``mlpower-director serve``) answers ``GET /v1/time`` on
loopback; the agent's clock is the machine's clock shifted in-process by a known
skew, so the true offset (director minus agent) is exactly ``-skew``. For each
skew we run the four-timestamp exchange many times (8 rounds each, the lowest-delay
rounds kept, as the agent does) and print the error against the truth and the error
bound the agent reports. Target: |error| < 1 ms, and the truth always inside the bound.

Run: ``.venv/bin/python benchmarks/bench_clock.py [--trials 50] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.client import DirectorClient
from agent.clock import MIN_ROUNDS, measure_offset

SKEWS_NS = (0, 1_234_567_891, -250_000_000, 3_600_000_000_000)
TARGET_ERROR_NS = 1_000_000


def _start_director(runs: Path, token: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "director", "serve", "--meter", "ptd://127.0.0.1:1", "--out", str(runs),
         "--port", "0", "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("director listening on "):
        process.kill()
        raise SystemExit(f"director did not start: {line!r} {process.stderr.read() if process.stderr else ''}")
    return process, line.split()[3]


def measure(url: str, token: str, skew_ns: int, trials: int, rounds: int) -> dict[str, float]:
    def agent_clock() -> int:
        return time.time_ns() + skew_ns

    errors_ns, bounds_ns, outside = [], [], 0
    with DirectorClient(url, token, clock_ns=agent_clock) as client:
        client.server_time()  # open the connection first, as the agent's earlier calls do
        for _ in range(trials):
            m = measure_offset(client.server_time, agent_clock, rounds)
            error = m.offset_ns - (-skew_ns)
            errors_ns.append(error)
            bounds_ns.append(m.bound_ns)
            outside += abs(error) > m.bound_ns
    abs_errors = sorted(abs(e) for e in errors_ns)
    return {
        "skew_ms": skew_ns / 1e6,
        "trials": trials,
        "error_median_ms": statistics.median(errors_ns) / 1e6,
        "abs_error_p99_ms": abs_errors[min(len(abs_errors) - 1, int(0.99 * len(abs_errors)))] / 1e6,
        "abs_error_max_ms": abs_errors[-1] / 1e6,
        "bound_median_ms": statistics.median(bounds_ns) / 1e6,
        "bound_max_ms": max(bounds_ns) / 1e6,
        "outside_bound": outside,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="offset measurements per skew (default 50)")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="exchanges per measurement (default 8)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    token = "bench-" + "x" * 26
    with tempfile.TemporaryDirectory() as tmp:
        director, url = _start_director(Path(tmp), token)
        try:
            results = [measure(url, token, skew, args.trials, args.rounds) for skew in SKEWS_NS]
        finally:
            director.terminate()
            director.wait(timeout=15)
    worst_ms = max(r["abs_error_max_ms"] for r in results)
    outside = sum(int(r["outside_bound"]) for r in results)
    met = worst_ms < TARGET_ERROR_NS / 1e6 and outside == 0
    if args.json:
        print(json.dumps({"results": results, "worst_abs_error_ms": worst_ms, "outside_bound": outside, "met": met}))
        return 0
    print(f"{'skew':>16}  {'median err':>11}  {'p99 |err|':>10}  {'max |err|':>10}  {'bound med':>10}  outside")
    for r in results:
        print(
            f"{r['skew_ms']:>13.3f} ms  {r['error_median_ms']:>8.3f} ms  {r['abs_error_p99_ms']:>7.3f} ms  "
            f"{r['abs_error_max_ms']:>7.3f} ms  {r['bound_median_ms']:>7.3f} ms  "
            f"{int(r['outside_bound'])}/{r['trials']}"
        )
    print(f"worst |error| {worst_ms:.3f} ms (target < 1 ms); truth outside the bound {outside} time(s): "
          f"{'MET' if met else 'NOT MET'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
