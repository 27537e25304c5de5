"""GPU energy per window (pure), and the sampler's batching and re-sending."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from agent.errors import DirectorUnreachable
from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from agent.gpu_stream import GpuSampler
from analyzer.gpu import GpuSeries, gpu_window
from powerlog.wire import MAX_BATCHES_PER_REQUEST

S = 1_000_000_000


def _series(power_w: float = 300.0, step_ms: int = 20, seconds: int = 10) -> GpuSeries:
    t = np.arange(0, seconds * S + 1, step_ms * 1_000_000, dtype=np.int64)
    energy_t = np.arange(0, seconds * S + 1, S, dtype=np.int64)
    return GpuSeries(0, t, np.full(t.shape, power_w), energy_t, 1000.0 + power_w * energy_t / S)


def test_counter_difference_interpolated_to_the_window() -> None:
    w = gpu_window(_series(), int(2.5 * S), int(7.5 * S))
    assert w.counter_energy_j == pytest.approx(1500.0)
    assert w.integrated_energy_j == pytest.approx(1500.0)
    assert w.mean_power_w == pytest.approx(300.0) and w.disagreement_pct == pytest.approx(0.0, abs=1e-9)
    assert w.median_update_ms == pytest.approx(20.0) and w.warnings == ()


def test_warnings_for_short_windows_sparse_readings_and_disagreement() -> None:
    short = gpu_window(_series(), 2 * S, int(2.5 * S))
    assert any("shorter than 1 s" in x for x in short.warnings)
    sparse = gpu_window(_series(step_ms=500), 1 * S, 9 * S)
    assert any("cover too little" in x for x in sparse.warnings)
    s = _series()
    burst = GpuSeries(0, s.power_t_ns, s.power_w, s.energy_t_ns, s.energy_j * 1.2)  # the counter saw more
    assert any("trust the counter" in x for x in gpu_window(burst, 1 * S, 9 * S).warnings)
    unbracketed = gpu_window(_series(), -S, 5 * S)
    assert unbracketed.counter_energy_j is None and unbracketed.energy_j == unbracketed.integrated_energy_j


class FakeGpus:
    """A two-GPU source with fixed readings (the hardware edge)."""

    simulated = True
    history_s = 0.0

    def __init__(self) -> None:
        self.t = 0

    def open(self) -> list[GpuInfo]:
        return [GpuInfo(i, f"fake {i}", f"GPU-{i}", 700.0, True, "instant", True) for i in range(2)]

    def close(self) -> None:
        pass

    def read_power(self) -> list[PowerReading]:
        self.t += 10_000_000
        return [PowerReading(i, self.t, 100.0 * (i + 1)) for i in range(2)]

    def read_energy(self) -> list[EnergyReading]:
        return [EnergyReading(i, self.t, self.t / S * 100.0 * (i + 1)) for i in range(2)]

    def take_events(self) -> list[str]:
        return []


def test_sampler_batches_per_gpu_and_resends_after_an_outage() -> None:
    received: list = []
    down = threading.Event()
    down.set()

    def send(batches) -> None:
        if down.is_set():
            raise DirectorUnreachable("network down")
        assert 1 <= len(batches) <= MAX_BATCHES_PER_REQUEST
        received.extend(batches)

    sampler = GpuSampler(FakeGpus(), send, rate_hz=100, batch_s=0.1)
    sampler.start()
    threading.Event().wait(0.5)
    assert received == [] and sampler.pending > 0  # buffered while the director is unreachable
    down.clear()
    sampler.mark_boundary()
    threading.Event().wait(0.3)
    sampler.stop()
    assert sampler.pending == 0 and sampler.stats.send_failures > 0
    sources = {b.source for b in received}
    assert sources == {"gpu0.power", "gpu1.power", "gpu0.energy", "gpu1.energy"}
    for source in sources:
        seqs = [b.seq for b in received if b.source == source]
        assert seqs == list(range(len(seqs)))  # every batch exactly once, in order
    power = [v for b in received if b.source == "gpu1.power" for v in b.columns["power_w"]]
    assert set(power) == {200.0} and all(b.simulated for b in received)


def test_a_source_with_history_is_read_a_few_times_a_second_and_thinned_to_the_rate() -> None:
    from agent.gpu.simulated import SimulatedGpus

    gpus = SimulatedGpus(2, load=lambda gpu: 0.5)
    gpus.open()
    reads = []
    read_power = gpus.read_power

    def counted() -> list[PowerReading]:
        reads.append(1)
        return read_power()

    gpus.read_power = counted  # type: ignore[method-assign]
    received: list = []
    sampler = GpuSampler(gpus, received.extend, rate_hz=10, batch_s=1.0)
    assert sampler.read_every_s == 0.25
    sampler.start()
    threading.Event().wait(2.1)
    sampler.stop()
    assert len(reads) <= 10  # about 8 in 2.1 s, not the 21 of polling at 10 Hz
    times = [t for b in received if b.source == "gpu0.power" for t in b.columns["t_utc_ns"]]
    slots = [t // 100_000_000 for t in times]
    assert 19 <= len(times) <= 26 and slots == sorted(set(slots))  # one value per 100 ms slot, every slot
    assert all(b - a == 1 for a, b in itertools.pairwise(slots))
