"""A whole calibration session, every part real but the sources: a SIMULATED WT310 on a pty (``meter-sim``,
10 Hz) following a UTC-keyed load profile, a uvicorn director on loopback, and the agent's calibration (in this
process) with two SIMULATED GPUs that read the same profile with a known gain, offset and lag. The calibration
recovers the gain within 1 % and the lag within one GPU sample period, and writes a calibration.json that reads.
``mlpower-agent calibrate`` itself runs as a user runs it, on a ``sim://`` meter and ``--gpus sim:2``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.calibrate import CalibrateOptions, LiveTap, run_calibration
from agent.calibrate_cli import format_calibration
from agent.client import DirectorClient
from director.sim.signal import UtcProfileSignal
from powerlog.calibration_record import read_calibration_json
from tests.support.calibration_sim import ProfileGpus
from tests.support.processes import BIN, SUT_NICE, start_director, start_meter_sim, stop

BASE_W, SPAN_W, KNOT_S, SEED = 200.0, 200.0, 2.0, 7  # the wall: 200 W to 400 W
GAIN, OFFSET_W, LAG_S = 1.25, 100.0, 0.3  # GPUs read 1 / 1.25 of the wall less 100 W, 0.3 s late
GPU_RATE_HZ = 10.0


@pytest.mark.slow
@pytest.mark.realtime
def test_simulated_calibration_recovers_gain_and_lag(tmp_path: Path) -> None:
    profile = f"utc-profile:{BASE_W:g},{SPAN_W:g},{KNOT_S:g},{SEED}"
    sim, device = start_meter_sim("--signal", profile, "--noise", "0.005")
    director = None
    try:
        runs = tmp_path / "runs"
        director, url = start_director(runs, f"serial://{device}?model=wt310&rate=0.1", settle_s=0)
        token = (runs / "director.token").read_text().strip()
        gpus = ProfileGpus(2, UtcProfileSignal(BASE_W, SPAN_W, KNOT_S, SEED), gain=GAIN, offset_w=OFFSET_W,
                           lag_s=LAG_S, noise=0.005)  # fmt: skip
        options = CalibrateOptions(
            out_dir=tmp_path / "calibration",
            command=("sleep", "600"),  # the loads: the SIMULATED power follows the profile, not the CPU
            window_s=2.0,
            windows=5,
            settle_s=0.5,
            gpus=gpus,
            gpu_rate_hz=GPU_RATE_HZ,
        )
        lines: list[str] = []
        with DirectorClient(url, token) as client:
            outcome = run_calibration(options, client, LiveTap(url, token, None), say=lines.append)
    finally:
        stop(director, sim)
    record = read_calibration_json(outcome.path)
    assert record == outcome.record and record.simulated
    assert [lv.name for lv in record.levels] == ["idle", "load1", "load2"]
    assert all(len(lv.windows) == 5 for lv in record.levels)
    assert record.reference.url.startswith("serial://") and record.reference.interval_ms == 100
    (fit,) = record.sources
    # the SIMULATED levels are stretches of the UTC profile, not loads: at some times of day their means come
    # within the threshold of each other, and then (only then) the record says so
    wall_w = [lv.wall_w for lv in fit.levels]
    close = 100.0 * (max(wall_w) - min(wall_w)) / min(wall_w) < fit.threshold_pct
    assert [n.split(":")[0] + ": levels close" for n in record.notes if "levels differ by only" in n] == (
        ["gpus: levels close"] if close else []
    )
    assert len(record.notes) == int(close), record.notes
    assert fit.name == "gpus" and fit.kind == "gpu_sum" and fit.members == ["gpu0.power", "gpu1.power"]
    assert fit.simulated and fit.sample_period_s == pytest.approx(1 / GPU_RATE_HZ, rel=0.2)
    assert fit.gain == pytest.approx(GAIN, rel=0.01), fit
    assert abs(fit.lag_s - LAG_S) <= 1 / GPU_RATE_HZ, fit
    assert fit.offset_w == pytest.approx(OFFSET_W, abs=0.05 * BASE_W), fit
    assert fit.qualifies and not fit.qualifies_raw and fit.samples_used > 200
    table = format_calibration(record, outcome.path)
    assert "gpus" in table and "SIMULATED" in table and "yes (within 5 %" in table


@pytest.mark.slow
@pytest.mark.realtime
def test_the_calibrate_command_writes_calibration_json(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "calibration"
    argv = [*SUT_NICE, str(BIN / "mlpower-agent"), "calibrate", "--token-file", str(runs / "director.token"),
            "--out", str(out), "--window-s", "0.5", "--windows", "3", "--settle-s", "0.3",
            "--gpus", "sim:2"]  # fmt: skip
    director, url = start_director(runs, "sim://?model=wt310&rate=0.1&signal=constant:250", settle_s=0)
    try:
        refused = subprocess.run([*argv, "--director", url, "--windows", "2"], capture_output=True, text=True,
                                 timeout=120, check=False)  # fmt: skip
        done = subprocess.run([*argv, "--director", url, "--", "sleep", "600"], capture_output=True, text=True,
                              timeout=240, check=False)  # fmt: skip
    finally:
        stop(director)
    assert refused.returncode == 2 and "--windows at least 3" in refused.stderr, refused.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    record = read_calibration_json(out / "calibration.json")
    assert [lv.name for lv in record.levels] == ["idle", "load1", "load2"] and record.simulated
    assert all(len(lv.windows) == 3 for lv in record.levels) and record.reference.url.startswith("sim://")
    assert [s.name for s in record.sources] == ["gpus"] or any(n.startswith("gpus:") for n in record.notes)
    assert "calibration against" in done.stdout and f"written to {out / 'calibration.json'}" in done.stdout
