"""GPU power limits set and always put back (agent.power_limits): the journal written before any change, the
guard's restore on every way out (a SIGTERM to a real process included), a SIGKILLed process's limits restored
at the next start, permission and range errors through the fake NVML, and the SIMULATED limit model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pynvml
import pytest

from agent.gpu.errors import GpuLimitError, GpuPermissionError, LimitJournalError
from agent.gpu.nvml import NvmlGpus
from agent.gpu.sim_limit_model import (
    DEFAULT_MODEL,
    SIM_SPEED_ENV,
    SIM_STATE_ENV,
    SimLimitModel,
    best_cap_w,
    read_limits,
    workload_speed,
)
from agent.gpu.simulated import SimulatedGpus
from agent.power_limits import JOURNAL_NAME, LimitGuard, PowerLimitJournal, journal_path, restore_pending
from agent.signals import Signalled, forwarded_signals, held_signals
from tests.support.fake_nvml import FakeGpu, FakeNvml, patched_nvml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nvml() -> Iterator[Callable[..., FakeNvml]]:
    with patched_nvml() as install:
        yield install


def test_the_guard_sets_every_gpu_and_puts_the_originals_back(nvml, tmp_path: Path) -> None:
    fake = nvml([FakeGpu(), FakeGpu(limit_mw=650_000)])
    said: list[str] = []
    with LimitGuard(NvmlGpus(), 300.0, journal_path(tmp_path), note=said.append):
        assert [g.limit_mw for g in fake.gpus] == [300_000, 300_000]
        journal = json.loads((tmp_path / JOURNAL_NAME).read_text())
        assert [(g["uuid"], g["original_w"], g["requested_w"]) for g in journal["gpus"]] == [
            ("GPU-0000", 700.0, 300.0),
            ("GPU-0001", 650.0, 300.0),
        ]
    assert [g.limit_mw for g in fake.gpus] == [700_000, 650_000]
    assert [g.limits_set_mw for g in fake.gpus] == [[300_000, 700_000], [300_000, 650_000]]
    assert not (tmp_path / JOURNAL_NAME).exists()
    assert said[-1] == "power limits restored"


def test_an_exception_inside_restores_and_goes_on(nvml, tmp_path: Path) -> None:
    fake = nvml([FakeGpu()])
    with pytest.raises(RuntimeError, match="benchmark failed"), LimitGuard(NvmlGpus(), {0: 450.0}, tmp_path / "j.json"):
        assert fake.gpus[0].limit_mw == 450_000
        raise RuntimeError("benchmark failed")
    assert fake.gpus[0].limit_mw == 700_000
    assert not (tmp_path / "j.json").exists()


def test_the_journal_is_written_before_any_change(tmp_path: Path) -> None:
    journal = tmp_path / "out" / JOURNAL_NAME
    seen: list[dict[str, object]] = []

    class Watched(SimulatedGpus):
        def set_power_limit_w(self, index: int, watts: float) -> None:
            seen.append(json.loads(journal.read_text()) if journal.exists() else {})
            super().set_power_limit_w(index, watts)

    with LimitGuard(Watched(2, load=lambda _gpu: 1.0), 40.0, journal):
        pass
    first, second = seen[0], seen[1]
    assert first["gpus"] == second["gpus"]  # both GPUs' originals recorded before the first was touched
    assert [g["original_w"] for g in first["gpus"]] == [75.0, 75.0]  # type: ignore[index]
    assert first["host"] and first["pid"] == os.getpid()


def test_not_root_is_a_permission_error_and_nothing_stays_changed(nvml, tmp_path: Path) -> None:
    fake = nvml([FakeGpu(), FakeGpu(set_error=pynvml.NVML_ERROR_NO_PERMISSION)])
    guard = LimitGuard(NvmlGpus(), 300.0, tmp_path / "j.json")
    with pytest.raises(GpuPermissionError, match="run as root") as caught, guard:
        pytest.fail("the block must not run")
    assert caught.value.index == 1
    assert fake.gpus[0].limits_set_mw == [300_000, 700_000]  # the first GPU, already set, was put back
    assert not (tmp_path / "j.json").exists()


def test_a_limit_outside_the_range_is_refused_before_anything_is_touched(nvml, tmp_path: Path) -> None:
    fake = nvml([FakeGpu(), FakeGpu(limit_range_mw=(250_000, 600_000))])
    guard = LimitGuard(NvmlGpus(), 220.0, tmp_path / "j.json")
    with (
        pytest.raises(GpuLimitError, match=r"GPU 1: .*GPU-0001.*220 W is outside its range 250-600 W") as caught,
        guard,
    ):
        pytest.fail("the block must not run")
    assert caught.value.range_w == (250.0, 600.0)
    assert [g.limits_set_mw for g in fake.gpus] == [[], []]
    assert not (tmp_path / "j.json").exists()


def test_nvml_limits_read_range_and_set(nvml) -> None:
    fake = nvml([FakeGpu(limit_mw=500_000, limit_range_mw=(150_000, 600_000))])
    gpus = NvmlGpus()
    gpus.open()
    assert (gpus.power_limit_w(0), gpus.power_limit_range_w(0)) == (500.0, (150.0, 600.0))
    gpus.set_power_limit_w(0, 333.3)
    assert fake.gpus[0].limit_mw == 333_300
    with pytest.raises(GpuLimitError, match="150-600 W"):
        gpus.set_power_limit_w(0, 700.0)
    fake.gpus[0].limit_range_mw = (100_000, 900_000)  # NVML refuses what the range allowed a moment ago
    fake.gpus[0].set_error = pynvml.NVML_ERROR_INVALID_ARGUMENT
    with pytest.raises(GpuLimitError, match="NVML refused 700 W"):
        gpus.set_power_limit_w(0, 700.0)


def _guarded_child(tmp_path: Path) -> subprocess.Popen[str]:
    """A real process holding 2 SIMULATED GPUs at 40 W under a guard until it is stopped."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from agent.gpu.simulated import SimulatedGpus
        from agent.power_limits import LimitGuard
        gpus = SimulatedGpus(2, load=lambda gpu: 1.0, state_dir=Path({str(tmp_path / "state")!r}))
        with LimitGuard(gpus, 40.0, Path({str(tmp_path / JOURNAL_NAME)!r})):
            print("limited", flush=True)
            time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "limited\n"
    assert read_limits(tmp_path / "state") == {"GPU-SIM-0000-mlpower": 40.0, "GPU-SIM-0001-mlpower": 40.0}
    return child


def test_a_sigkilled_run_leaves_its_journal_and_the_next_start_restores(tmp_path: Path) -> None:
    child = _guarded_child(tmp_path)
    child.kill()  # SIGKILL: nothing in the child runs
    assert child.wait(timeout=60) == -signal.SIGKILL
    assert (tmp_path / JOURNAL_NAME).exists()
    assert set(read_limits(tmp_path / "state").values()) == {40.0}  # still changed
    gpus = SimulatedGpus(2, state_dir=tmp_path / "state")
    said = restore_pending(tmp_path / JOURNAL_NAME, gpus)
    assert said[1:] == [
        "GPU 0 (GPU-SIM-0000-mlpower): power limit restored from 40 W to 75 W",
        "GPU 1 (GPU-SIM-0001-mlpower): power limit restored from 40 W to 75 W",
    ]
    assert f"left by process {child.pid}" in said[0]
    assert set(read_limits(tmp_path / "state").values()) == {75.0}
    assert not (tmp_path / JOURNAL_NAME).exists()
    assert restore_pending(tmp_path / JOURNAL_NAME, gpus) == []  # nothing left to do


def test_a_sigterm_restores_on_the_way_out(tmp_path: Path) -> None:
    child = _guarded_child(tmp_path)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) != 0
    assert set(read_limits(tmp_path / "state").values()) == {75.0}
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_the_guard_restores_a_journal_left_behind_before_it_sets(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SimulatedGpus(1, state_dir=state).set_power_limit_w(0, 35.0)  # what a killed run left
    PowerLimitJournal(tmp_path / "j.json").write([], "elsewhere", 1)
    with pytest.raises(LimitJournalError, match="written on host 'elsewhere'"):
        restore_pending(tmp_path / "j.json", SimulatedGpus(1, state_dir=state))
    (tmp_path / "j.json").write_text("{not json")
    with pytest.raises(LimitJournalError, match="cannot read the power-limit journal"):
        restore_pending(tmp_path / "j.json", SimulatedGpus(1, state_dir=state))
    (tmp_path / "j.json").unlink()
    said: list[str] = []
    with LimitGuard(SimulatedGpus(1, state_dir=state), 50.0, tmp_path / "j.json", note=said.append) as guard:
        assert [(e.original_w, e.requested_w) for e in guard.entries] == [(35.0, 50.0)]
    assert read_limits(state) == {"GPU-SIM-0000-mlpower": 35.0}


def test_the_simulated_model_formulas() -> None:
    m = DEFAULT_MODEL
    assert (m.idle_w, m.peak_w, m.range_w, m.knee) == (20.0, 60.0, (30.0, 75.0), 0.8)
    assert m.clock(75.0) == 1.0 and m.power_w(75.0) == 60.0  # the default limit is above the demand
    assert m.clock(30.0) == pytest.approx(0.25 ** (1 / 3))  # (30 - 20) / 40 of the dynamic power
    assert m.power_w(30.0) == 30.0 and m.power_w(30.0, load=0.1) == 24.0
    assert m.clock(40.0, load=0.5) == 1.0  # a light load fits under the cap
    assert m.speed(30.0) == pytest.approx(0.25 ** (1 / 3) / 0.8)
    assert m.speed(50.0) == 1.0  # above the knee
    assert m.efficiency(40.0) == pytest.approx(m.speed(40.0) / (50.0 + 40.0))
    with pytest.raises(ValueError, match="idle < min cap"):
        SimLimitModel(min_cap_w=10.0)


def test_the_models_best_cap_is_its_efficiency_maximum() -> None:
    assert best_cap_w() == pytest.approx(20 + 40 * 0.8**3)  # at the knee: 40.48 W
    for rest_w, gpus in [(50.0, 1), (50.0, 2), (10.0, 4), (400.0, 1)]:
        grid = [30.0 + k * 0.01 for k in range(4501)]
        brute = max(grid, key=lambda c: DEFAULT_MODEL.efficiency(c, rest_w, gpus))
        assert best_cap_w(rest_w=rest_w, gpus=gpus) == pytest.approx(brute, abs=0.02)
    assert best_cap_w(rest_w=10.0, gpus=4) < 40.0  # a small rest of system: below the knee
    assert best_cap_w(caps_w=[30, 40, 50, 75]) == 40.0
    assert best_cap_w(gpus=2, caps_w=[30, 40, 50]) == 40.0


def test_simulated_gpus_respond_to_their_limit(tmp_path: Path) -> None:
    now = [10**18]
    gpus = SimulatedGpus(1, clock_ns=lambda: now[0], load=lambda _gpu: 1.0, state_dir=tmp_path)
    (info,) = gpus.open()
    assert (info.power_limit_w, gpus.power_limit_range_w(0)) == (75.0, (30.0, 75.0))
    now[0] += 10**9
    assert 55 < sum(r.power_w for r in gpus.read_power()) / 50 < 65
    gpus.set_power_limit_w(0, 40.0)
    gpus.read_power()
    now[0] += 10**9
    assert 39 < sum(r.power_w for r in gpus.read_power()) / 50 < 41
    power = json.loads((tmp_path / "power.json").read_text())
    assert power["simulated"] and 39 < power["power_w"]["GPU-SIM-0000-mlpower"] < 41
    with pytest.raises(GpuLimitError, match="range 30-75 W"):
        gpus.set_power_limit_w(0, 80.0)


def test_the_workload_speed_follows_the_simulated_limits(tmp_path: Path) -> None:
    assert workload_speed({}) is None
    assert workload_speed({SIM_SPEED_ENV: "0.5"}) == 0.5
    with pytest.raises(ValueError, match="fraction in"):
        workload_speed({SIM_SPEED_ENV: "2"})
    assert workload_speed({SIM_STATE_ENV: str(tmp_path)}) == 1.0
    gpus = SimulatedGpus(2, state_dir=tmp_path)
    gpus.set_power_limit_w(1, 30.0)
    assert workload_speed({SIM_STATE_ENV: str(tmp_path)}) == pytest.approx(DEFAULT_MODEL.speed(30.0))


def test_a_signal_in_nested_held_blocks_waits_for_the_outer_one() -> None:
    reached = []
    with pytest.raises(Signalled), forwarded_signals(), held_signals():
        with held_signals():  # a guard's restore inside a step that must not be cut
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        reached.append("inner done")
    assert reached == ["inner done"]
