"""The issue's done-when: ``mlpower-agent sweep`` of three limits on two SIMULATED GPUs with the built-in benchmark,
against a real director whose simulated wall meter sees the GPUs' power (``--signal sim-gpus:FOLDER,REST_W``), finds
the setting the simulated model says is best (:func:`agent.gpu.sim_limit_model.best_cap_w`); the GPUs' limits are
back at their originals afterwards, and sweep.json, sweep.parquet and sweep.html hold every setting, each linked to
its run's report.html."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from agent.gpu.sim_limit_model import DEFAULT_MODEL, SIM_STATE_ENV, best_cap_w, read_limits
from tests.support.processes import BIN, SUT_NICE, start_director, stop

LIMITS_W = (30.0, 40.0, 50.0)
REST_W = 50.0  # the simulated system beside its GPUs


@pytest.mark.slow
def test_a_sweep_of_three_limits_finds_the_simulated_models_best(tmp_path: Path) -> None:
    runs, out, state = tmp_path / "runs", tmp_path / "sweep", tmp_path / "sim-gpus"
    director, url = start_director(runs, f"sim://?rate=0.1&signal=sim-gpus:{state},{REST_W:g}", settle_s=0)
    try:
        done = subprocess.run(
            [*SUT_NICE, str(BIN / "mlpower-agent"), "sweep", "--director", url, "--token-file",
             str(runs / "director.token"), "--out", str(out), "--gpu-power-limit-w", "30,40,50",
             "--benchmark", "builtin", "--duration", "3", "--gpus", "sim:2", "--quiet"],
            capture_output=True, text=True, timeout=600, check=False, env={**os.environ, SIM_STATE_ENV: str(state)},
        )  # fmt: skip
    finally:
        stop(director)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert [p["limit_w"] for p in sweep["points"]] == list(LIMITS_W)
    assert sweep["original_limits_w"] == {"0": DEFAULT_MODEL.max_cap_w, "1": DEFAULT_MODEL.max_cap_w}
    expected = best_cap_w(DEFAULT_MODEL, REST_W, gpus=2, caps_w=LIMITS_W)
    _assert_the_models_best_is_found(sweep["points"], sweep["answer"]["best_limit_w"], expected, done.stdout)
    assert set(read_limits(state).values()) == {DEFAULT_MODEL.max_cap_w}  # put back after the sweep
    for point in sweep["points"]:
        assert point["validity"] == "VALID" and point["simulated"] is True
        assert point["efficiency"] > 0 and point["efficiency_error"] is not None
        assert Path(point["report_html"]).is_file() and Path(point["local_folder"]).is_dir()
    # the wall saw the caps: more power at a higher limit (the simulated meter adds the GPUs' power)
    walls = [p["wall_power_w"] for p in sweep["points"]]
    assert walls == sorted(walls)
    assert [r["limit_w"] for r in pq.read_table(out / "sweep.parquet").to_pylist()] == list(LIMITS_W)
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert page.count("report.html'") == len(LIMITS_W) and "SIMULATED" in page
    assert f"best valid setting: {sweep['answer']['best_limit_w']:g} W" in done.stdout


def _assert_the_models_best_is_found(points: list[dict[str, Any]], best_w: float, expected_w: float, out: str) -> None:
    """The sweep's best is the model's. The simulated wall meter gives the model's wall power (checked: more at a
    higher cap), and the simulated board's throughput is the model's speed under each cap times a nominal rate
    (agent.builtin.harness.SimulatedSlowModel), not this machine's: so the measured ranking is the model's."""
    model = {p["limit_w"]: DEFAULT_MODEL.speed(p["limit_w"]) / p["wall_power_w"] for p in points}
    assert max(model, key=lambda c: model[c]) == expected_w  # the measured walls are the model's
    assert best_w == expected_w, out
