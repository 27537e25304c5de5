"""Benchmark: CPU cost of the agent's GPU sampler, 8 simulated GPUs polled at 100 Hz.

The real sampler (agent.gpu_stream.GpuSampler: polling thread, batching every second,
JSON-ready batches) runs for ``--seconds`` against simulated GPUs; the figure is process
CPU time / wall time in % of one core. The same loop against a source that returns
nothing measures the sampler's own cost apart from the simulator's. Target: our own
code under 2 % of one core.

Run: ``.venv/bin/python benchmarks/bench_gpu_sampler.py [--seconds 30] [--gpus 8] [--rate-hz 100]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from agent.gpu.simulated import SimulatedGpus
from agent.gpu_stream import GpuSampler
from powerlog.wire import SampleBatch

TARGET_PCT = 2.0


class SilentGpus:
    """Answers instantly with nothing: what is left is the sampler's own cost."""

    simulated = True

    def open(self) -> Sequence[GpuInfo]:
        return []

    def close(self) -> None:
        pass

    def read_power(self) -> list[PowerReading]:
        return []

    def read_energy(self) -> list[EnergyReading]:
        return []

    def take_events(self) -> list[str]:
        return []


def run(source: object, seconds: float, rate_hz: float) -> dict[str, float]:
    batches: list[SampleBatch] = []

    def send(batch: SampleBatch) -> None:
        batch.model_dump_json()  # the encoding the agent does before sending
        batches.append(batch)

    source.open()  # type: ignore[attr-defined]
    sampler = GpuSampler(source, send, rate_hz=rate_hz)  # type: ignore[arg-type]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    rows = sum(len(b.columns["t_utc_ns"]) for b in batches)
    return {
        "cpu_pct_of_core": 100 * cpu_s / wall_s,
        "wall_s": wall_s,
        "rows_per_s": rows / wall_s,
        "batches": len(batches),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--rate-hz", type=float, default=100.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    simulated = run(SimulatedGpus(args.gpus), args.seconds, args.rate_hz)
    silent = run(SilentGpus(), args.seconds, args.rate_hz)
    met = silent["cpu_pct_of_core"] < TARGET_PCT
    if args.json:
        print(json.dumps({"simulated_gpus": simulated, "sampler_only": silent, "target_pct": TARGET_PCT, "met": met}))
        return 0
    print(f"{args.gpus} simulated GPUs at {args.rate_hz:g} Hz for {args.seconds:g} s:")
    print(
        f"  sampler + simulator  {simulated['cpu_pct_of_core']:.2f} % of one core, "
        f"{simulated['rows_per_s']:.0f} readings/s in {simulated['batches']} batches"
    )
    print(f"  sampler alone        {silent['cpu_pct_of_core']:.2f} % of one core (a source that returns nothing)")
    print(f"target: our own code < {TARGET_PCT:g} % of one core: {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
