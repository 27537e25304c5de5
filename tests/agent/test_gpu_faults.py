"""GPU energy done right on the agent's side (issue #32, item 4): what NVML's power readings are (1 s average or
instant, GPU or module scope), the simulated GPUs' faults, the live watch's events, and the same faults named in
the analyzer's figures and in a real run's result."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pynvml
import pytest

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from agent.gpu.nvml import NvmlGpus, usage_power_kind
from agent.gpu.select import open_gpus
from agent.gpu.simulated import MODULE_EXTRA_W, SimulatedFault, SimulatedGpus
from agent.gpu.watch import GpuWatch
from agent.gpu_stream import SutSampler
from analyzer.gpu import DISAGREEMENT, MODULE_SCOPE, GpuSeries, describe_gpus, gpu_window
from powerlog.sut_samples import FAULT_NO_COUNTER, FAULT_RESET, FAULT_STUCK, FAULT_WRAP, FAULT_ZERO
from tests.support.fake_nvml import AVERAGE, GPU_SCOPE, INSTANT, FakeGpu, FakeNvml, patched_nvml
from tests.support.fake_nvml import MODULE_SCOPE as NVML_MODULE
from tests.support.processes import agent_argv, start_director

S = 1_000_000_000
T0 = 1_700_000_000 * S


@pytest.fixture
def nvml() -> Iterator[Callable[..., FakeNvml]]:
    with patched_nvml() as install:
        yield install


def test_what_nvml_power_usage_returns_by_architecture() -> None:
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_HOPPER, "NVIDIA H100 80GB HBM3") == "average"
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_AMPERE, "NVIDIA A10") == "average"
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_AMPERE, "NVIDIA A100-SXM4-80GB") == "instant"  # GA100
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_AMPERE, "NVIDIA A30") == "instant"
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_VOLTA, "Tesla V100-SXM2-16GB") == "instant"
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_BLACKWELL, "NVIDIA B200") == "average"
    assert usage_power_kind(None, "NVIDIA Something") is None
    assert usage_power_kind(pynvml.NVML_DEVICE_ARCH_UNKNOWN, "NVIDIA Something") is None


def test_each_gpu_says_what_its_readings_are(nvml) -> None:
    nvml([
        FakeGpu(),  # the instant field at GPU scope
        FakeGpu(name=b"NVIDIA GH200 480GB", fields={(INSTANT, NVML_MODULE): pynvml.NVML_SUCCESS}),
        FakeGpu(fields={(AVERAGE, GPU_SCOPE): pynvml.NVML_SUCCESS}),
        FakeGpu(name=b"NVIDIA A100-PCIE-40GB", fields={}, architecture=pynvml.NVML_DEVICE_ARCH_AMPERE),
        FakeGpu(name=b"NVIDIA L40S", fields={}, architecture=pynvml.NVML_DEVICE_ARCH_ADA, energy_mj=None),
    ])  # fmt: skip
    gpus = NvmlGpus(clock_ns=lambda: 1)
    infos = gpus.open()
    said = [(i.power_field, i.power_kind, i.power_scope, i.energy_scope) for i in infos]
    assert said == [
        ("instant", "instant", "gpu", "gpu"),
        ("instant/module", "instant", "module", "module"),  # GH200: the counter covers the module
        ("average", "average", "gpu", "gpu"),
        ("usage", "instant", "gpu", "gpu"),  # nvmlDeviceGetPowerUsage on GA100: instant
        ("usage", "average", "gpu", None),  # on Ada: NVML's 1 s average; no counter, no counter scope
    ]
    events = gpus.take_events()
    assert any("GPU 1 (NVIDIA GH200 480GB): its energy counter covers the whole module" in e for e in events)
    assert "GPU 3: nvmlDeviceGetPowerUsage readings are instant values" in events
    assert "GPU 4: nvmlDeviceGetPowerUsage readings are NVML's 1 s average" in events
    assert any(e.startswith(f"GPU 4: {FAULT_NO_COUNTER}: no energy counter") for e in events)
    wire = infos[1].to_wire()
    assert (wire.power_kind, wire.power_scope, wire.energy_scope) == ("instant", "module", "module")


def _run_simulated(gpus: SimulatedGpus, seconds: float) -> tuple[list[GpuInfo], GpuWatch, list[GpuSeries]]:
    """Read ``gpus`` as the sampler does (power 4 times a second, the counter every second) for ``seconds``."""
    clock = gpus.clock_ns
    assert isinstance(clock, _Clock)
    infos = list(gpus.open())
    watch = GpuWatch()
    power: list[PowerReading] = []
    energy: list[EnergyReading] = gpus.read_energy()
    watch.energy(energy)
    for step in range(1, int(seconds * 4) + 1):
        clock.t += S // 4
        readings = gpus.read_power()
        watch.power(readings)
        power += readings
        if step % 4 == 0:
            counters = gpus.read_energy()
            watch.energy(counters)
            energy += counters
    series = []
    for info in infos:
        p = [r for r in power if r.gpu_index == info.index]
        e = [r for r in energy if r.gpu_index == info.index]
        series.append(GpuSeries(
            info.index,
            np.array([r.t_utc_ns for r in p], dtype=np.int64), np.array([r.power_w for r in p]),
            np.array([r.t_utc_ns for r in e], dtype=np.int64), np.array([r.energy_j for r in e]),
        ))  # fmt: skip
    return infos, watch, list(describe_gpus(series, [i.to_wire() for i in infos]))


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def test_each_simulated_fault_is_an_agent_event_and_a_named_warning() -> None:
    faults = [
        SimulatedFault("reset", 0, 4.0),
        SimulatedFault("stuck", 1, 2.0),
        SimulatedFault("zero", 2, 0.0),
        SimulatedFault("no-counter", 3),
        SimulatedFault("module", 4),
        SimulatedFault("wrap", 5, 3.0),
    ]
    gpus = SimulatedGpus(7, clock_ns=_Clock(), load=lambda gpu: 0.5, faults=faults)
    infos, watch, series = _run_simulated(gpus, 10.0)
    assert not infos[3].energy_counter and infos[4].energy_scope == "module"
    events = watch.take_events()
    for gpu, fault in ((0, FAULT_RESET), (1, FAULT_STUCK), (2, FAULT_ZERO), (5, FAULT_WRAP)):
        assert sum(e.startswith(f"GPU {gpu}: {fault}: ") for e in events) == 1, (gpu, fault, events)
    assert not any(e.startswith(("GPU 3", "GPU 4", "GPU 6")) for e in events), events
    windows = [gpu_window(s, T0 + S, T0 + 9 * S) for s in series]
    assert [w.faults for w in windows] == [
        (FAULT_RESET,), (FAULT_STUCK,), (FAULT_ZERO,), (FAULT_NO_COUNTER,), (), (FAULT_WRAP,), ()
    ]  # fmt: skip
    for w in windows:
        for fault in w.faults:
            assert any(x.startswith(f"{fault}: ") for x in w.warnings), (fault, w.warnings)
    plain = windows[6]
    assert plain.energy_from == "counter" and plain.energy_j == pytest.approx(320.0, rel=0.03)  # 40 W for 8 s
    assert plain.warnings == () and plain.scope == "gpu" and plain.power_reading_kind == "instant"
    assert windows[1].energy_from == "power" and windows[1].energy_j == pytest.approx(320.0, rel=0.03)
    assert windows[2].energy_j is None  # a GPU reporting zero: no figure, not 0 J
    assert windows[3].energy_from == "power" and windows[3].energy_j == pytest.approx(320.0, rel=0.03)
    module = windows[4]
    assert module.scope == "module" and module.energy_j == pytest.approx(320.0 + 8 * MODULE_EXTRA_W, rel=0.03)
    assert any(x.startswith(f"{MODULE_SCOPE}: ") for x in module.warnings)
    (disagreement,) = [x for x in module.warnings if x.startswith(DISAGREEMENT)]
    assert f"{module.integrated_energy_j:.1f} J" in disagreement and f"{module.counter_energy_j:.1f} J" in disagreement
    assert windows[5].energy_j == pytest.approx(320.0, rel=0.05)  # the wrap undone (a float is 4 J wide up there)
    assert windows[0].energy_j == pytest.approx(320.0, rel=0.03)  # the reload's second from the power readings


def test_the_sampler_passes_the_watchs_events_on() -> None:
    class Reloading:
        """One GPU whose counter goes back between two readings (a driver reload)."""

        simulated = True
        history_s = 0.0

        def __init__(self) -> None:
            self.counter = [EnergyReading(0, T0 + k * S, e) for k, e in enumerate([5000.0, 5300.0, 12.0])]

        def open(self) -> list[GpuInfo]:
            return [GpuInfo(0, "reloading", "GPU-0", None, True, "instant", True)]

        def close(self) -> None:
            pass

        def read_power(self) -> list[PowerReading]:
            return []

        def read_energy(self) -> list[EnergyReading]:
            return [self.counter.pop(0)] if self.counter else []

        def take_events(self) -> list[str]:
            return []

    source = Reloading()
    sampler = SutSampler(source, lambda batches: None, rate_hz=10, batch_s=60)
    for _ in range(3):
        sampler.mark_boundary()
    sampler.stop(flush_timeout_s=1)
    (event,) = [e for e in sampler.stats.events if FAULT_RESET in e]
    assert event == f"GPU 0: {FAULT_RESET}: the energy counter went from 5300.0 J to 12.0 J"


def test_the_gpus_spec_simulates_faults() -> None:
    gpus = open_gpus("sim:3+reset@0:2+zero@2")
    assert isinstance(gpus, SimulatedGpus)
    infos = gpus.open()
    assert len(infos) == 3 and any(
        "SIMULATED fault on GPU 0: reset from 2 s, every 2 s" in e for e in gpus.take_events()
    )
    with pytest.raises(ValueError, match="KIND one of reset, wrap, stuck, zero, no-counter, module"):
        open_gpus("sim:2+melt@0:1")
    with pytest.raises(ValueError, match="there are only 2"):
        open_gpus("sim:2+stuck@2")


@pytest.mark.slow
def test_faults_reach_the_run_folder_and_the_result(tmp_path: Path) -> None:
    """A real director and agent with simulated GPUs told to fail: session.json says what each GPU's readings are,
    result.json names each fault and the scope, client.json holds the agent's live events."""
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:200")
    try:
        result = subprocess.run(
            agent_argv(url, runs, tmp_path / "agent", "--gpus", "sim:4+reset@0:1.5+stuck@1:0+zero@2:0+module@3",
                       "--benchmark", "builtin", "--duration", "4", "--scenario", "Offline", "--label", "faults"),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        director.terminate()
        director.wait(timeout=15)
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    described = json.loads((folder / "session.json").read_text())["agent"]["gpus"]
    assert [(g["power_kind"], g["power_scope"], g["energy_scope"]) for g in described] == [
        ("instant", "gpu", "gpu"), ("instant", "gpu", "gpu"), ("instant", "gpu", "gpu"), ("instant", "gpu", "module")
    ]  # fmt: skip
    per_gpu = json.loads((folder / "result.json").read_text())["report"]["gpus"]["per_gpu"]
    assert FAULT_RESET in per_gpu[0]["faults"] and per_gpu[1]["faults"] == [FAULT_STUCK]
    assert per_gpu[2]["faults"] == [FAULT_ZERO] and per_gpu[2]["energy_j"] is None
    assert per_gpu[3]["scope"] == "module" and any(w.startswith(MODULE_SCOPE) for w in per_gpu[3]["warnings"])
    assert all(g["power_reading_kind"] == "instant" for g in per_gpu)
    events = json.loads((folder / "power" / "client.json").read_text())["mlpower"]["gpu_sampler"]["events"]
    for gpu, fault in ((0, FAULT_RESET), (1, FAULT_STUCK), (2, FAULT_ZERO)):
        assert any(e.startswith(f"GPU {gpu}: {fault}: ") for e in events), (gpu, fault, events)
