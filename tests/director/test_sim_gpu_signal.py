"""The simulated wall meter's ``sim-gpus`` signal: the rest of the system plus the power the agent's SIMULATED GPUs
write, so that a simulated power limit shows at the simulated wall."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.gpu.simulated import SimulatedGpus
from director.errors import MeterConfigError
from director.sim.signal import SimulatedGpuSignal, parse_signal

T0 = 1_800_000_000 * 10**9


def test_the_wall_follows_the_simulated_gpus_and_their_limit(tmp_path: Path) -> None:
    now = [T0]
    gpus = SimulatedGpus(2, clock_ns=lambda: now[0], load=lambda _gpu: 1.0, state_dir=tmp_path)
    wall = parse_signal(f"sim-gpus:{tmp_path},50")
    assert isinstance(wall, SimulatedGpuSignal)
    assert wall.power_w(T0) == 50.0  # no GPU has written yet
    gpus.open()
    now[0] += 10**9
    gpus.read_power()
    assert wall.power_w(now[0]) == pytest.approx(50 + 2 * 60, rel=0.03)  # uncapped: 60 W each at full load
    gpus.set_power_limit_w(0, 40.0)
    gpus.set_power_limit_w(1, 40.0)
    now[0] += 10**9
    gpus.read_power()
    assert wall.power_w(now[0]) == pytest.approx(50 + 2 * 40, rel=0.03)
    assert wall.power_w(now[0] + 10 * 10**9) == 50 + 2 * 20.0  # not sampled lately: the GPUs idle


def test_bad_sim_gpu_signals_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(MeterConfigError, match="needs a number of watts"):
        parse_signal(f"sim-gpus:{tmp_path},lots")
    with pytest.raises(MeterConfigError, match="unknown signal"):
        parse_signal("sim-gpus:")
    (tmp_path / "power.json").write_text("[]")
    with pytest.raises(MeterConfigError, match="not a simulated GPU power file"):
        parse_signal(f"sim-gpus:{tmp_path}").power_w(T0)
