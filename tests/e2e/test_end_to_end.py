"""A whole measurement, every part its own process: PTDaemon simulator, uvicorn director, agent with real LoadGen."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from powerlog.calibration_record import write_calibration_json
from powerlog.layout import REQUIRED_FILES
from powerlog.mllog import read_detail_log
from powerlog.spl import read_spl
from powerlog.wire import SESSION_SECRET_HEADER
from tests.support.calibration_files import gpu_sum_calibration
from tests.support.processes import BIN, run_agent, serial_session, start_director, stop

# what a short run on a simulated analyzer must fail, and nothing else
EXPECTED_ERRORS = {"2.min_duration", "8.analyzer", "8.ptd_version"}


@pytest.fixture
def director(ptd_sim, tmp_path: Path):
    # constant, not host-load: with test workers beside it the machine's load (and host-load's watts) can drop
    # between ranging and testing by more than rule 4.power_change allows, which says nothing about mlpower
    sim = ptd_sim("--signal", "constant:250")
    # the README has you probe the meter first: its lines (Auto-range errors included) stay in PTDaemon's log,
    # and must not end up in the session's ptd_logs.txt
    probe = subprocess.run(
        [str(BIN / "mlpower-director"), "meter-probe", sim.url, "--samples", "2"], capture_output=True, text=True
    )
    assert probe.returncode == 0 and "probe_" in sim.log_path.read_text(), probe.stderr
    process, url = start_director(tmp_path / "runs", sim.url, extra=("--ptd-log", str(sim.log_path)))
    yield url, tmp_path / "runs"
    stop(process)


def _agent(url: str, runs: Path, out: Path, *workload: str) -> subprocess.CompletedProcess[str]:
    return run_agent(url, runs, out, "--label", "e2e", *workload)


def test_builtin_benchmark_session_end_to_end(director, tmp_path: Path) -> None:
    url, runs = director
    calibration = tmp_path / "calibration.json"  # applied by the run: the GPUs' corrected wall estimate
    write_calibration_json(calibration, gpu_sum_calibration(2.0, 100.0, 0.0, time.time_ns()))
    result = _agent(
        url, runs, tmp_path / "agent", "--benchmark", "builtin", "--scenario", "Offline", "--duration", "4",
        "--gpus", "sim:2", "--progress-s", "1", "--calibration", str(calibration),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Power metric" in result.stdout and "SIMULATED" in result.stdout
    progress = [line for line in result.stdout.splitlines() if line.startswith("[testing] ")]
    assert progress and " of ~4 s; wall " in progress[-1] and " W; " in progress[-1]
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    for name in REQUIRED_FILES:
        assert (folder / name).is_file(), name
    record = json.loads((folder / "session.json").read_text())
    assert record["state"] == "closed" and record["simulated"] is True
    name = record["session_name"]
    for phase, sub in (("ranging", "ranging"), ("testing", "run_1")):
        spl = read_spl(folder / sub / "spl.txt")
        assert spl.marks == (f"{name}_{phase}",) and len(spl) >= 3
        detail = read_detail_log(folder / sub / "mlperf_log_detail.txt")
        assert detail.value("effective_scenario") == "Offline"
    saved = json.loads((folder / "result.json").read_text())
    findings = {f["rule"]: f for f in saved["check"]["findings"] if f["rule"] == "6.window_in_phase"}
    assert findings and all(
        f["status"] == "pass" for f in saved["check"]["findings"] if f["rule"] == "6.window_in_phase"
    )
    errors = {f["rule"] for f in saved["check"]["findings"] if f["status"] == "fail" and f["severity"] == "error"}
    assert errors <= EXPECTED_ERRORS, errors
    assert saved["report"]["clock_correction"]["bound_ns"] < 50_000_000
    # what the director saved is what the analyzer computes from the folder
    again = subprocess.run(
        [str(BIN / "mlpower-analyzer"), "report", "--json", str(folder)], capture_output=True, text=True, check=True
    )
    report = json.loads(again.stdout)
    assert report == saved["report"]  # every field: the typed result.json dropped nothing
    assert saved["format"] == "mlpower-result-1"
    assert report["power_metric"]["value"] == pytest.approx(250, rel=0.02)  # the simulator's constant 250 W
    # GPU energy from the streamed counters: per GPU, adding up, a share of the wall, all marked simulated
    gpus = saved["report"]["gpus"]
    assert gpus["simulated"] is True and [g["gpu"] for g in gpus["per_gpu"]] == [0, 1]
    assert gpus["total_energy_j"] == pytest.approx(sum(g["energy_j"] for g in gpus["per_gpu"]))
    assert 0 < gpus["share_of_wall_pct"] < 100 and gpus["rest_of_system_w"] > 0
    for g in gpus["per_gpu"]:
        assert g["counter_energy_j"] == pytest.approx(g["integrated_energy_j"], rel=0.1)
        assert g["power_readings"] >= 30  # polled at 10 Hz over a window of 4 s and more
    assert (folder / "samples" / "gpu0.power.parquet").is_file()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "SIMULATED</span> sources: not a real measurement" in page and "GPU 1" in page and "Plotly.newPlot" in page
    assert "sut_samples" in record["simulated_sources"] and "GPU 1" in result.stdout
    # the calibration sent with the run: kept in power/, listed in client.json, applied to the GPUs' sum
    assert (folder / "power" / "calibration.json").read_bytes() == calibration.read_bytes()
    assert "power/calibration.json" in json.loads((folder / "power" / "client.json").read_text())["results"]
    calibrated = saved["report"]["calibrated"]
    (corrected,) = calibrated["sources"]
    assert calibrated["calibration"]["file"] == "power/calibration.json" and calibrated["not_applied"] == []
    assert corrected["corrected"] and corrected["simulated"] and corrected["uncertainty"]["k"] == 2.0
    assert corrected["raw_avg_power_w"] == pytest.approx(gpus["total_mean_power_w"], rel=0.05)
    assert corrected["avg_power_w"] == pytest.approx(100.0 + 2.0 * corrected["raw_avg_power_w"], rel=1e-9)


def test_failing_workload_is_reported_and_frees_the_meter(director, tmp_path: Path) -> None:
    url, runs = director
    failed = _agent(url, runs, tmp_path / "agent", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert failed.returncode == 2 and "exited with status 7" in failed.stderr
    wrong = subprocess.run(
        [str(BIN / "mlpower-agent"), "run", "--director", url, "--token", "w" * 32, "--", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and "refused the token" in wrong.stderr
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    assert json.loads((folder / "session.json").read_text())["state"] == "failed"


def test_meter_busy_is_explained_to_the_second_agent(director, tmp_path: Path) -> None:
    import uuid

    import httpx

    url, runs = director
    token = (runs / "director.token").read_text().strip()
    held = httpx.post(
        f"{url}/v1/sessions",
        json={"agent": {"label": "first"}, "client_uuid": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert held.status_code == 201
    opened = held.json()
    beat = f"{url}/v1/sessions/{opened['session_id']}/heartbeat"
    headers = {"Authorization": f"Bearer {token}", SESSION_SECRET_HEADER: opened["session_secret"]}
    done = threading.Event()

    def first_agent_alive() -> None:  # the holder is alive: its lease must not run out however slow the second is
        while not done.wait(opened["lease_s"] / 4):
            httpx.post(beat, headers=headers, timeout=30)

    keeper = threading.Thread(target=first_agent_alive, daemon=True)
    keeper.start()
    try:
        second = _agent(url, runs, tmp_path / "agent", "--gpus", "none", "--", sys.executable, "-c", "pass")
    finally:
        done.set()
        keeper.join(timeout=60)
    assert second.returncode == 2 and "meter busy" in second.stderr and opened["session_id"] in second.stderr


@pytest.mark.realtime
def test_session_on_a_serial_wt310_at_ten_hertz(tmp_path: Path) -> None:
    folder = serial_session(tmp_path, "wt310", "--signal", "constant:150")
    spl = read_spl(folder / "run_1" / "spl.txt")
    seconds = (spl.t_utc_ns[-1] - spl.t_utc_ns[0]) / 1e9
    assert 9.0 <= (len(spl) - 1) / seconds <= 11.0  # the analyzer's own 10 Hz, not PTDaemon's 1 Hz
    report = json.loads(
        subprocess.run(
            [str(BIN / "mlpower-analyzer"), "report", "--json", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert report["power_metric"]["unit"] == "mJ/query" and report["samples_in_window"] >= 25
    record = json.loads((folder / "session.json").read_text())
    assert record["meter"]["identity"]["model"] == "YokogawaWT310E" and record["simulated"] is True
    # the driver evaluated every testing sample on the fixed ranges (150 W on 300 V x 1 A: 0.3 %)
    uncertainty = record["phases"]["testing"]["uncertainty"]
    assert uncertainty["known"] == uncertainty["samples"] == record["phases"]["testing"]["samples"] > 0
    assert 0.001 < uncertainty["max_fraction"] < 0.01 and uncertainty["above_limit"] == []
    checked = subprocess.run(
        [str(BIN / "mlpower-analyzer"), "check", "--json", str(folder)], capture_output=True, text=True, check=False
    )
    (rule,) = [f for f in json.loads(checked.stdout)["findings"] if f["rule"] == "10.testing_uncertainty"]
    assert rule["status"] == "pass" and "evaluated by mlpower's driver" in rule["message"]


def test_a_session_the_director_does_not_know_is_explained(director) -> None:
    from agent.client import DirectorClient
    from agent.errors import SessionConflict
    from powerlog.wire import SessionOpened, SessionState

    url, runs = director
    gone = SessionOpened(
        session_id="2026-01-01_00-00-00_x_abcdef",
        session_name="x",
        server_uuid="u",
        settle_s=0,
        state=SessionState.OPEN,
        session_secret="s" * 43,
        lease_s=20,
    )
    token = (runs / "director.token").read_text().strip()
    with DirectorClient(url, token) as client, pytest.raises(SessionConflict, match="was it restarted"):
        client.phase(gone, "ranging", "start")


def test_two_meters_are_summed_as_channels_of_one_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(
        runs, "sim://?rate=0.1&signal=constant:200", "sim://?rate=0.1&model=wt332&signal=constant:120"
    )
    try:
        result = _agent(url, runs, tmp_path / "agent", "--gpus", "none", "--benchmark", "builtin",
                        "--scenario", "Offline", "--duration", "3")  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        director.terminate()
        director.wait(timeout=15)
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    spl = read_spl(folder / "run_1" / "spl.txt")
    assert spl.multichannel and len(spl.channels) == 3  # a WT310 and a two-element WT332
    total = sum(ch.power_w for ch in spl.channels)
    assert abs(spl.power_w - total).max() < 1e-3
    assert 280 < float(spl.power_w.mean()) < 340  # 200 W + 120 W less the simulated losses
    seconds = (spl.t_utc_ns[-1] - spl.t_utc_ns[0]) / 1e9
    record = json.loads((folder / "session.json").read_text())
    # the meters' 10 Hz, not PTDaemon's 1 Hz, and never a sample twice; every joined sample is stored, or skipped
    # for want of a fresh partner and counted. The lower bound is half the rate: beside a CPU hog the simulated
    # meters themselves delivered 8.5 Hz (52 samples in 6.1 s, none skipped), and 69 stored in 7.7 s once
    skipped = record["meter_samples_skipped"]
    assert (len(spl) - 1) / seconds <= 11.0 and (len(spl) + skipped - 1) / seconds >= 5.0  # skipped: both phases
    assert record["meter"]["identity"]["channels"] == 3 and " + " in record["meter"]["url"]
    saved = json.loads((folder / "result.json").read_text())
    report = saved["report"]
    assert report["power_metric"]["unit"] == "W" and report["power_metric"]["value"] > 280
    # read directly, not through PTDaemon: said once, and the ranges are checked from what the director set
    status = {f["rule"]: f["status"] for f in saved["check"]["findings"]}
    assert status["8.ptd_used"] == "fail" and status["9.go"] == "skipped"
    assert status["9.ranging_ranges"] == "pass" and status["9.testing_ranges"] == "pass"
    rates = [f["message"] for f in saved["check"]["findings"] if f["rule"] == "3.sample_rate"]
    assert rates and all("of 10 Hz" in m for m in rates)  # judged at the analyzer's own rate, not PTDaemon's


def test_unusable_meter_replies_are_counted_in_the_run_record(tmp_path: Path) -> None:
    """Every 7th value reply of the analyzer corrupted: those samples are left out, never averaged in, and
    session.json says how many and shows them."""
    folder = serial_session(tmp_path, "wt310", "--signal", "constant:150", "--garbage-every", "7")
    record = json.loads((folder / "session.json").read_text())
    assert record["meter_rejected_count"] > 0 and len(record["meter_rejected"]) == min(
        record["meter_rejected_count"], 100
    )
    assert all(r["reason"] for r in record["meter_rejected"])
    spl = read_spl(folder / "run_1" / "spl.txt")
    assert len(spl) > 0 and float(spl.power_w.min()) > 100  # no corrupted value in the file
