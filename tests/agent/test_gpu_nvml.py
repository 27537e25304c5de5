"""GPU backends: NVML with its functions patched at the boundary (autospec keeps their signatures), and the
simulated GPUs. Tests marked ``gpu`` need a real NVIDIA GPU and are skipped elsewhere."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from unittest import mock

import pynvml
import pytest

from agent.gpu.errors import GpuNotFound, NvmlUnavailable
from agent.gpu.nvml import NvmlGpus
from agent.gpu.select import open_gpus
from agent.gpu.simulated import HISTORY_S, UPDATE_PERIOD_NS, SimulatedGpus
from tests.support.fake_nvml import AVERAGE, GPU_SCOPE, INSTANT, MODULE_SCOPE, FakeGpu, FakeNvml, patched_nvml


@pytest.fixture
def nvml() -> Iterator[Callable[..., FakeNvml]]:
    with patched_nvml() as install:
        yield install


def test_gpu_with_counter_and_instant_field(nvml) -> None:
    # the first value answers open()'s probe of the field
    nvml([FakeGpu(power=[(900_000, 1), (1_000_000, 300_000), (1_000_000, 300_000), (1_100_000, 310_500)])])
    gpus = NvmlGpus(clock_ns=lambda: 5)
    (info,) = gpus.open()
    assert (info.name, info.power_limit_w, info.energy_counter, info.power_field) == (
        "NVIDIA H200",
        700.0,
        True,
        "instant",
    )
    first = gpus.read_power()
    assert [(r.t_utc_ns, r.power_w) for r in first] == [(1_000_000_000, 300.0)]  # us -> ns, mW -> W
    assert gpus.read_power() == []  # same NVML timestamp: not repeated
    assert [(r.t_utc_ns, r.power_w) for r in gpus.read_power()] == [(1_100_000_000, 310.5)]
    (energy,) = gpus.read_energy()
    assert energy.energy_j == pytest.approx(1002.0) and energy.t_utc_ns == 5  # mJ -> J
    gpus.close()
    pynvml.nvmlShutdown.assert_called_once_with()


def test_no_counter_and_module_scope_fallback(nvml) -> None:
    nvml([FakeGpu(energy_mj=None, fields={(INSTANT, MODULE_SCOPE): pynvml.NVML_SUCCESS})])
    gpus = NvmlGpus()
    (info,) = gpus.open()
    assert not info.energy_counter and info.power_field == "instant/module"
    assert gpus.read_energy() == []
    events = " | ".join(gpus.take_events())
    assert "no energy counter" in events and "instant unsupported" in events and "using the instant/module" in events
    (call,) = [c for c in pynvml.nvmlDeviceGetFieldValues.call_args_list[-1:]]
    assert call.args[1] == [(INSTANT, MODULE_SCOPE)]


def test_no_field_at_all_falls_back_to_average_then_power_usage(nvml) -> None:
    fake = nvml([FakeGpu(fields={(AVERAGE, GPU_SCOPE): pynvml.NVML_SUCCESS}), FakeGpu(fields={})])
    gpus = NvmlGpus(clock_ns=lambda: 42)
    infos = gpus.open()
    assert [i.power_field for i in infos] == ["average", "usage"]
    readings = {r.gpu_index: r for r in gpus.read_power()}
    assert readings[1].power_w == fake.usage_mw / 1000 and readings[1].t_utc_ns == 42
    assert "nvmlDeviceGetPowerUsage" in " ".join(gpus.take_events())


def test_gpu_lost_mid_run_is_recorded_and_others_continue(nvml) -> None:
    nvml([FakeGpu(lost_after=6), FakeGpu(power=[(t, 200_000) for t in range(1, 100)])])
    gpus = NvmlGpus(clock_ns=lambda: 7)
    gpus.open()
    seen = [r.gpu_index for _ in range(5) for r in gpus.read_power()]
    assert seen.count(1) == 5 and seen.count(0) < 5
    lost = [e for e in gpus.take_events() if "lost" in e]
    assert len(lost) == 1 and lost[0].startswith("GPU 0 lost")
    assert [r.gpu_index for r in gpus.read_energy()] == [1]


def test_missing_library_and_missing_gpu(nvml) -> None:
    nvml([FakeGpu()], available=False)
    with pytest.raises(NvmlUnavailable, match="NVML is not available"):
        NvmlGpus().open()
    said: list[str] = []
    assert open_gpus("auto", said.append) is None  # no NVIDIA GPU: none, never a simulated one
    assert len(said) == 1 and "no NVIDIA GPU here" in said[0]


def test_asking_for_a_gpu_that_is_not_there(nvml) -> None:
    nvml([FakeGpu()])
    with pytest.raises(GpuNotFound, match=r"no GPU \[3\]"):
        NvmlGpus([0, 3]).open()


def test_specs() -> None:
    assert open_gpus("none") is None
    assert isinstance(open_gpus("sim:3"), SimulatedGpus) and isinstance(open_gpus("nvml:0,1"), NvmlGpus)
    with pytest.raises(ValueError, match="use auto"):
        open_gpus("cuda")


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000 * 10**9

    def __call__(self) -> int:
        return self.t


def test_simulated_gpus_refresh_every_20_ms_and_count_their_energy() -> None:
    clock = Clock()
    gpus = SimulatedGpus(2, clock_ns=clock, load=lambda gpu: 0.5 + 0.2 * gpu)
    infos = gpus.open()
    assert all(i.simulated for i in infos) and gpus.simulated
    start = {e.gpu_index: e.energy_j for e in gpus.read_energy()}
    readings = gpus.read_power()  # the value of the current 20 ms slot
    for _ in range(100):  # 1 s of polling at 100 Hz
        clock.t += 10_000_000
        readings += gpus.read_power()
    per_gpu = [r for r in readings if r.gpu_index == 0]
    assert len(per_gpu) == 51  # the first slot, then a new value every 20 ms, never the same one twice
    assert {b.t_utc_ns - a.t_utc_ns for a, b in itertools.pairwise(per_gpu)} == {UPDATE_PERIOD_NS}
    end = {e.gpu_index: e.energy_j for e in gpus.read_energy()}
    for gpu in (0, 1):
        integrated = sum(r.power_w for r in readings if r.gpu_index == gpu) * UPDATE_PERIOD_NS / 1e9
        assert end[gpu] - start[gpu] == pytest.approx(integrated, rel=0.05)
    assert "SIMULATED" in gpus.take_events()[0]


def test_simulated_gpus_keep_a_second_of_values_for_a_reader_that_comes_less_often() -> None:
    clock = Clock()
    gpus = SimulatedGpus(1, clock_ns=clock, load=lambda gpu: 0.5)
    gpus.open()
    assert gpus.history_s == HISTORY_S == 1.0
    first = gpus.read_power()
    clock.t += 250_000_000  # a read 4 times a second
    quarter = gpus.read_power()
    assert len(first) == 1 and len(quarter) == 250_000_000 // UPDATE_PERIOD_NS
    assert [r.t_utc_ns for r in quarter] == [first[0].t_utc_ns + k * UPDATE_PERIOD_NS for k in range(1, 13)]
    start = gpus.read_energy()[0].energy_j
    clock.t += 5 * 10**9  # nobody reads for 5 s: the values of the last second are kept, the energy of all 5
    late = gpus.read_power()
    assert (
        len(late) == HISTORY_S * 1e9 // UPDATE_PERIOD_NS
        and late[-1].t_utc_ns == clock.t // UPDATE_PERIOD_NS * UPDATE_PERIOD_NS
    )
    assert gpus.read_energy()[0].energy_j - start == pytest.approx(5 * 40.0, rel=0.05)  # 40 W at half load


@pytest.mark.gpu
def test_real_nvml_gpus_give_readings() -> None:
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        pytest.skip("no NVIDIA GPU with NVML on this machine")
    gpus = NvmlGpus()
    infos = gpus.open()
    try:
        assert infos and all(not i.simulated for i in infos)
        import time

        readings = []
        for _ in range(50):
            readings += gpus.read_power()
            time.sleep(0.01)
        assert readings and all(r.power_w > 0 for r in readings)
    finally:
        gpus.close()


def test_mlpower_agent_gpus_shows_each_limit_and_its_range(nvml, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    nvml([FakeGpu(limit_mw=450_000), FakeGpu(limit_range_mw=(100_000, 700_000))])
    assert main(["gpus", "--gpus", "nvml"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("GPU ")]
    assert [line.split("  ")[2] for line in lines] == [
        "power limit 450 W (range 200-700 W)",
        "power limit 700 W (range 100-700 W)",
    ]


def test_clock_and_temperature_are_read_and_a_gpu_that_cannot_say_gives_none(nvml) -> None:
    nvml([FakeGpu()])
    gpus = NvmlGpus()
    gpus.open()
    try:
        assert gpus.clock_and_temperature(0) == (1755.0, 61.0)  # the SM clock, not the memory clock
        with mock.patch.object(pynvml, "nvmlDeviceGetTemperature", side_effect=pynvml.NVMLError(3)):
            assert gpus.clock_and_temperature(0) == (1755.0, None)
    finally:
        gpus.close()
