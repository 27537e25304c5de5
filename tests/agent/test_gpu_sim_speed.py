"""The built-in benchmark under a SIMULATED GPU power limit: its model slowed to the simulated speed factor, and a
short LoadGen run that takes the factor from the environment the agent gives it and says it was simulated."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from agent.builtin.harness import SimulatedSlowModel, run_builtin
from agent.builtin.model import TinyConvNet, synthetic_images
from agent.gpu.sim_limit_model import DEFAULT_MODEL, SIM_SPEED_ENV, SIM_STATE_ENV, busy
from agent.gpu.simulated import SimulatedGpus


def test_the_slowed_models_throughput_is_the_simulated_boards() -> None:
    """n images take at least n x the nominal image time / speed, whatever this machine's own speed (the CPU is far
    faster than the simulated board, so the board's time is what the run sees); the answers are the model's."""
    library = synthetic_images(8, 0)
    for speed in (1.0, 0.25):
        slowed = SimulatedSlowModel(0, speed)
        start_ns = time.perf_counter_ns()
        labels = slowed.predict(library)
        assert time.perf_counter_ns() - start_ns >= 8 * SimulatedSlowModel.NOMINAL_IMAGE_NS / speed
        assert np.array_equal(labels, TinyConvNet(0).predict(library))  # the same answers, only slower
    with pytest.raises(ValueError, match="fraction in"):
        SimulatedSlowModel(0, 0.0)


def test_a_run_takes_the_speed_from_the_simulated_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    SimulatedGpus(1, state_dir=state).set_power_limit_w(0, 30.0)
    monkeypatch.setenv(SIM_STATE_ENV, str(state))
    monkeypatch.delenv(SIM_SPEED_ENV, raising=False)
    result = run_builtin("SingleStream", 0.5, tmp_path / "logs")
    assert result.simulated_speed == pytest.approx(DEFAULT_MODEL.speed(30.0))
    assert result.performance is not None
    assert (state / "busy").exists()  # the run marked the simulated GPUs busy
    monkeypatch.delenv(SIM_STATE_ENV)
    assert run_builtin("SingleStream", 0.5, tmp_path / "logs").simulated_speed is None


def test_the_slowed_model_marks_the_simulated_gpus_busy(tmp_path: Path) -> None:
    now = [time.time_ns()]
    gpus = SimulatedGpus(1, clock_ns=lambda: now[0], state_dir=tmp_path)  # following the CPU, or the busy mark
    gpus.open()
    gpus.set_power_limit_w(0, 40.0)
    now[0] += 3 * 10**9  # long after any mark: this machine's CPU load
    assert not busy(tmp_path, now[0])
    SimulatedSlowModel(0, 0.5, tmp_path).predict(synthetic_images(1, 0))
    now[0] = time.time_ns()
    assert busy(tmp_path, now[0])
    gpus.read_power()
    now[0] += 10**8
    readings = [r.power_w for r in gpus.read_power()]
    assert readings == pytest.approx([40.0] * 5, rel=0.05)  # full load, held at the 40 W cap
