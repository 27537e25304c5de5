"""Are the error bars honest? Coverage and tightness of the k=2 intervals over simulated sessions with a known truth.

For each tier (see benchmarks/uncertainty_trials.py) it runs ``--trials`` simulated measurements and prints:
coverage (the share of trials whose truth lies inside estimate +- U; goal >= 95 %), tightness (the mean
half-width over the RMS error; goal <= 3, so the bar is not vacuous), and which component dominated how often.

    .venv/bin/python benchmarks/bench_uncertainty.py [--trials 1000] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.uncertainty_trials import TIERS, Trial, run_trial

COVERAGE_GOAL = 0.95
TIGHTNESS_GOAL = 3.0


def summarise(trials: list[Trial]) -> dict[str, object]:
    relative = [abs(t.error) / t.truth for t in trials if t.truth]
    rms_relative = math.sqrt(sum(r * r for r in relative) / len(relative))
    mean_relative_half_width = sum(t.half_width / t.truth for t in trials if t.truth) / len(relative)
    coverage = sum(t.covered for t in trials) / len(trials)
    # relative, since the trials' powers span 20 W to 8 kW
    tightness = mean_relative_half_width / rms_relative if rms_relative else math.inf
    return {
        "trials": len(trials),
        "coverage": coverage,
        "tightness": tightness,
        "rms_relative_error_pct": 100 * rms_relative,
        "mean_relative_half_width_pct": 100 * mean_relative_half_width,
        "dominant": dict(collections.Counter(t.dominant or "none" for t in trials).most_common()),
        "met": coverage >= COVERAGE_GOAL and tightness <= TIGHTNESS_GOAL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="simulated sessions per tier (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = {}
    for index, tier in enumerate(TIERS):
        trials = [run_trial(tier, args.seed + index * 1_000_003 + i) for i in range(args.trials)]
        results[tier] = summarise(trials)
    elapsed_s = time.perf_counter() - started
    if args.json:
        print(json.dumps({"tiers": results, "elapsed_s": elapsed_s}, indent=2))
    else:
        print(f"{'tier':10} {'trials':>6} {'coverage':>9} {'tightness':>9} {'rms err':>9} {'mean U':>9}  dominant")
        for tier, r in results.items():
            print(
                f"{tier:10} {r['trials']:>6} {100 * r['coverage']:>8.1f}% {r['tightness']:>9.2f} "
                f"{r['rms_relative_error_pct']:>8.3f}% {r['mean_relative_half_width_pct']:>8.3f}%  {r['dominant']}"
            )
        print(
            f"goals: coverage >= {100 * COVERAGE_GOAL:.0f} %, "
            f"tightness (mean U / RMS error, both relative) <= {TIGHTNESS_GOAL:g}"
        )
        for tier, r in results.items():
            print(f"{tier}: {'MET' if r['met'] else 'NOT MET'}")
        print(f"{elapsed_s:.1f} s")
    return 0 if all(r["met"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
