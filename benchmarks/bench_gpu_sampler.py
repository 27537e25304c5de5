"""Benchmark: CPU cost of the agent's GPU sampler, 8 simulated GPUs sampled at 100 Hz.

The real sampler (agent.gpu_stream.GpuSampler: reading thread, batching every second,
batches encoded as the agent sends them) runs for ``--seconds`` against simulated GPUs; the
figure is process CPU time / wall time in % of one core, in the steady state (from 2 s after
the start to the stop). Three sources:

- the simulator as the agent uses it: it keeps a second of values, as NVML's sample buffer
  does, so the sampler reads it 4 times a second;
- the same simulator read as a live value (``history_s = 0``, as NVML's instant field is):
  the sampler wakes at the rate, 100 times a second;
- a live source that returns nothing: the sampler's own cost of waking at the rate.

Target: our own code under 2 % of one core.

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
from powerlog.wire import SampleBatch, SampleBatches

TARGET_PCT = 2.0
WARM_UP_S = 2.0


class LiveSimulatedGpus(SimulatedGpus):
    """The simulator read as a live value: polled at the rate, as NVML's instant power field is."""

    history_s = 0.0


class SilentGpus:
    """Answers instantly with nothing: what is left is the sampler's own cost."""

    simulated = True
    history_s = 0.0

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

    def send(group: list[SampleBatch]) -> None:
        SampleBatches(batches=group).model_dump_json()  # the encoding the agent does before sending
        batches.extend(group)

    source.open()  # type: ignore[attr-defined]
    sampler = GpuSampler(source, send, rate_hz=rate_hz)  # type: ignore[arg-type]
    sampler.start()
    time.sleep(WARM_UP_S)
    cpu0, wall0, readings0 = time.process_time(), time.perf_counter(), sampler.stats.power_readings
    time.sleep(seconds)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    readings = sampler.stats.power_readings - readings0
    sampler.stop()
    return {
        "cpu_pct_of_core": 100 * cpu_s / wall_s,
        "wall_s": wall_s,
        "readings_per_s": readings / wall_s,
        "reads_per_s": 1 / sampler.read_every_s,
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
    polled = run(LiveSimulatedGpus(args.gpus), args.seconds, args.rate_hz)
    silent = run(SilentGpus(), args.seconds, args.rate_hz)
    met = simulated["cpu_pct_of_core"] < TARGET_PCT
    if args.json:
        print(json.dumps({"simulated_gpus": simulated, "simulated_polled": polled, "sampler_only": silent,
                          "target_pct": TARGET_PCT, "met": met}))  # fmt: skip
        return 0
    print(f"{args.gpus} SIMULATED GPUs at {args.rate_hz:g} Hz, {args.seconds:g} s of steady state:")
    for label, figures in (
        ("with history (as used)", simulated),
        ("polled as a live value", polled),
        ("polled, no GPUs", silent),
    ):
        print(
            f"  {label:<24} {figures['cpu_pct_of_core']:.2f} % of one core, {figures['reads_per_s']:.0f} reads/s, "
            f"{figures['readings_per_s']:.0f} readings/s"
        )
    ratio = polled["cpu_pct_of_core"] / simulated["cpu_pct_of_core"] if simulated["cpu_pct_of_core"] else 0.0
    print(f"history vs polling: {ratio:.1f}x less CPU")
    print(f"target: sampler + simulator < {TARGET_PCT:g} % of one core: {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
