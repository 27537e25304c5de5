"""Faults during a measurement, with real processes on loopback: each is survived, recorded and reported."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from powerlog.spl import read_spl
from tests.support.in_process import api_client, director_on
from tests.support.netproxy import CuttableProxy
from tests.support.ports import free_port
from tests.support.processes import (
    BIN,
    agent_argv,
    phased_builtin,
    start_director,
    start_meter_sim,
    stop,
    text_lines,
    wait_for,
)

TOKEN = "f" * 32


def _agent(
    url: str, runs: Path, out: Path, duration_s: float, *extra: str, ranging_s: float | None = None
) -> subprocess.Popen[str]:
    """The agent on the built-in Offline benchmark; ``ranging_s``: a shorter ranging phase (the fault is in
    testing, and ranging needs only its samples for the testing ranges)."""
    if ranging_s is None:
        workload = ["--benchmark", "builtin", "--scenario", "Offline", "--duration", f"{duration_s:g}"]
    else:
        workload = phased_builtin("Offline", ranging_s, duration_s)
    argv = agent_argv(url, runs, out, "--label", "fault", "--progress-s", "1", *extra, *workload)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _findings(folder: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in json.loads((folder / "result.json").read_text())["check"]["findings"]:
        out.setdefault(f["rule"], []).append(f)
    return out


# 1. the meter connection is lost mid-phase ---------------------------------------------------------------


@pytest.mark.slow
def test_meter_lost_mid_phase_is_reconnected_and_the_gap_reported(ptd_sim, tmp_path: Path) -> None:
    port = free_port()
    sim = ptd_sim("--port", str(port), "--signal", "constant:250")
    runs = tmp_path / "runs"
    director, url = start_director(runs, f"ptd://127.0.0.1:{port}?timeout=2")
    agent = _agent(url, runs, tmp_path / "agent", 12, ranging_s=4)
    replacement = None
    try:
        wait_for(lambda: any(text_lines(p) >= 3 for p in runs.glob("*/run_1/spl.txt")), 120, "testing samples")
        (folder,) = [p for p in runs.iterdir() if p.is_dir()]
        sim.process.send_signal(signal.SIGKILL)  # the PTDaemon machine goes away
        sim.process.wait()
        time.sleep(3)
        replacement = ptd_sim("--port", str(port), "--signal", "constant:250")
        output, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, output
    finally:
        stop(agent, director)
        if replacement is not None:
            replacement.stop()
    record = json.loads((folder / "session.json").read_text())
    (gap,) = record["meter_gaps"]
    assert gap["phase"] == "testing" and gap["restored_utc_ns"] is not None and gap["attempts"] >= 1
    assert 2.5 < (gap["restored_utc_ns"] - gap["last_sample_utc_ns"]) / 1e9 < 20
    spl = read_spl(folder / "run_1" / "spl.txt")
    assert (spl.t_utc_ns > gap["restored_utc_ns"]).any()  # samples after the gap: the session went on
    largest_gap_s = float(np.diff(spl.t_utc_ns).max()) / 1e9
    assert largest_gap_s > 2.5  # the hole is in the file, not papered over
    (finding,) = _findings(folder)["0.meter_gaps"]
    assert finding["status"] == "fail" and finding["severity"] in ("error", "info")
    assert "meter lost at" in finding["message"] and "back after" in finding["message"]


def _meter_sim(link: Path) -> subprocess.Popen[str]:
    """A simulated WT310 on a new pty, reached through ``link`` (as udev's /dev/serial/by-id/ links are)."""
    sim, device = start_meter_sim("--signal", "constant:140")
    partial = link.with_suffix(".new")
    partial.symlink_to(device)
    partial.replace(link)
    return sim


@pytest.mark.slow
@pytest.mark.realtime
def test_serial_adapter_unplugged_mid_phase_is_reopened_and_the_gap_reported(tmp_path: Path) -> None:
    link = tmp_path / "ttyWT310"
    sim = _meter_sim(link)
    runs = tmp_path / "runs"
    director, url = start_director(runs, f"serial://{link}?model=wt310&rate=0.1&timeout=0.5")
    # 12 s phases: after 2 s of testing, the 2 s unplugged and the reopening, seconds of testing are left to show
    # 10 Hz again (a 6 s phase lasted long enough only while the built-in benchmark overshot its duration)
    agent = _agent(url, runs, tmp_path / "agent", 12, "--gpus", "none", ranging_s=2)
    replugged = None
    try:
        wait_for(lambda: any(text_lines(p) >= 20 for p in runs.glob("*/run_1/spl.txt")), 120, "testing samples")
        (folder,) = [p for p in runs.iterdir() if p.is_dir()]
        sim.kill()  # the adapter is pulled: its pty goes away
        sim.wait()
        time.sleep(2)
        replugged = _meter_sim(link)  # plugged in again: a new device behind the same stable name
        output, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, output
    finally:
        stop(agent, director, sim, replugged)
    (gap,) = json.loads((folder / "session.json").read_text())["meter_gaps"]
    assert gap["phase"] == "testing" and gap["restored_utc_ns"] is not None
    assert 1.5 < (gap["restored_utc_ns"] - gap["last_sample_utc_ns"]) / 1e9 < 20
    spl = read_spl(folder / "run_1" / "spl.txt")
    assert (spl.t_utc_ns > gap["restored_utc_ns"]).sum() >= 5  # 10 Hz again after the gap
    assert "0.meter_gaps" in _findings(folder)


# 2. the director is killed mid-phase and restarted --------------------------------------------------------


@pytest.mark.slow
def test_director_killed_mid_phase_keeps_every_sample_and_marks_the_session_interrupted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    port = free_port()
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:180", port=port)
    agent = _agent(url, runs, tmp_path / "agent", 10, "--gpus", "sim:1", ranging_s=2)
    restarted = None
    try:
        wait_for(lambda: any(text_lines(p) >= 20 for p in runs.glob("*/run_1/spl.txt")), 120, "testing samples")
        (folder,) = [p for p in runs.iterdir() if p.is_dir()]
        spl_path = folder / "run_1" / "spl.txt"
        director.send_signal(signal.SIGKILL)
        director.wait()
        killed_ns = time.time_ns()
        on_disk = text_lines(spl_path)
        restarted = subprocess.Popen(
            [str(BIN / "mlpower-director"), "serve", "--meter", "sim://?rate=0.1", "--out", str(runs),
             "--port", str(port), "--token-file", str(runs / "director.token")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert restarted.stdout is not None
        banner = [restarted.stdout.readline() for _ in range(4)]  # listening, dashboard, token, recovered
        assert any(line.startswith(f"recovered: session {folder.name} was testing") for line in banner), banner
        assert any(line.startswith("token: read from ") for line in banner), banner
        output, _ = agent.communicate(timeout=120)
    finally:
        stop(agent, director, restarted)
    # the agent stops with a clear message that says where the data is
    assert agent.returncode == 2, output
    assert "marked interrupted" in output and str(folder) in output
    # every sample flushed before the kill is there, and nothing after the kill was invented
    spl = read_spl(spl_path)
    assert len(spl) == on_disk >= 20
    assert (killed_ns - spl.t_utc_ns[-1]) / 1e9 < 1.5  # at most the last read interval was lost
    record = json.loads((folder / "session.json").read_text())
    assert record["state"] == "failed" and record["error"].startswith("interrupted:")
    assert record["interrupted"]["state"] == "testing"
    assert list((folder / "samples").glob("*.parquet"))  # the GPU journal became Parquet, as at a close
    check = subprocess.run(
        [str(BIN / "mlpower-analyzer"), "check", "--json", str(folder)], capture_output=True, text=True, check=False
    )
    rules = {f["rule"]: f for f in json.loads(check.stdout)["findings"]}
    assert (
        rules["0.interrupted"]["status"] == "fail"
        and "while the session was testing" in rules["0.interrupted"]["message"]
    )


def test_a_restarted_director_stops_the_measurement_a_crash_left_running(ptd_sim, tmp_path: Path) -> None:
    """Killed mid-testing, the director leaves PTDaemon measuring on the testing ranges; the restarted one
    stops it and puts back the ranges the session found, so the next session starts (it was refused with
    'cannot change ranges during a measurement')."""
    sim = ptd_sim("--signal", "constant:180")
    runs = tmp_path / "runs"
    port = free_port()
    director, url = start_director(runs, sim.url, port=port, settle_s=0)
    agent = _agent(url, runs, tmp_path / "agent", 8, "--gpus", "none", ranging_s=3)
    restarted = None
    try:
        wait_for(lambda: any(text_lines(p) >= 3 for p in runs.glob("*/run_1/spl.txt")), 120, "testing samples")
        director.send_signal(signal.SIGKILL)
        director.wait()
        agent.kill()
        agent.wait()
        restarted, url = start_director(runs, sim.url, port=port, settle_s=0)
        assert restarted.stdout is not None
        banner = [restarted.stdout.readline() for _ in range(3)]
        (recovered,) = [line for line in banner if line.startswith("recovered: ")]
        assert "meter: stopped the measurement PTDaemon was still running and put back its ranges" in recovered
        assert "(V Auto, A Auto)" in recovered
        second = _agent(url, runs, tmp_path / "agent2", 2, "--gpus", "none")
        output, _ = second.communicate(timeout=180)
        assert second.returncode in (0, 1), output  # the session ran (1: the short run's rule errors)
        assert "cannot change ranges during a measurement" not in output and "Power metric" in output
    finally:
        stop(agent, director, restarted)


def _ptd_api(tmp_path: Path, url: str, phase_start_meter_wait_s: float = 20.0) -> TestClient:
    """The director's API in-process on a PTDaemon (simulator) URL."""
    director = director_on(url, tmp_path / "runs", token=TOKEN, phase_start_meter_wait_s=phase_start_meter_wait_s)
    return api_client(director, TOKEN)


def test_a_meter_lost_at_the_phase_boundary_is_waited_for(ptd_sim, tmp_path: Path) -> None:
    """PTDaemon gone between ranging and testing and back 2 s later: the testing start reconnects with
    backoff instead of failing the session on one attempt; gone for good, the reply says what to do."""
    import threading

    port = free_port()
    sim = ptd_sim("--port", str(port), "--signal", "constant:200")
    replacement: list = []
    with _ptd_api(tmp_path, f"ptd://127.0.0.1:{port}?timeout=2") as client:
        session_id, folder = _open(client)
        for action in ("start", "stop"):
            reply = client.post(f"/v1/sessions/{session_id}/phases/ranging/{action}", json={"agent_utc_ns": 1})
            assert reply.status_code == 200, reply.text
            time.sleep(2.5 if action == "start" else 0)
        sim.process.send_signal(signal.SIGKILL)
        sim.process.wait()
        back = threading.Timer(
            2.0, lambda: replacement.append(ptd_sim("--port", str(port), "--signal", "constant:200"))
        )
        back.start()
        started = client.post(f"/v1/sessions/{session_id}/phases/testing/start", json={"agent_utc_ns": 2})
        back.join()
        assert started.status_code == 200, started.text
        log = (folder / "power" / "server.log").read_text()
        assert "meter not answering at the testing start" in log and "meter back at the testing start after" in log
        assert (
            client.post(f"/v1/sessions/{session_id}/phases/testing/stop", json={"agent_utc_ns": 3}).status_code == 200
        )


def test_a_meter_not_answering_at_the_open_is_waited_for(ptd_sim, tmp_path: Path) -> None:
    """PTDaemon restarting when a session opens (back 2 s later): the open retries instead of failing."""
    import threading

    port = free_port()
    started: list = []
    back = threading.Timer(2.0, lambda: started.append(ptd_sim("--port", str(port), "--signal", "constant:200")))
    with _ptd_api(tmp_path, f"ptd://127.0.0.1:{port}?timeout=2") as client:
        back.start()
        session_id, folder = _open(client)
        back.join()
        log = (folder / "power" / "server.log").read_text()
        assert "meter not answering at the session's open" in log and "meter back at the session's open" in log
        assert client.get(f"/v1/sessions/{session_id}").json()["state"] == "open"


def test_a_meter_gone_for_good_at_the_phase_boundary_fails_with_what_to_do(ptd_sim, tmp_path: Path) -> None:
    sim = ptd_sim("--signal", "constant:200")
    with _ptd_api(tmp_path, f"ptd://127.0.0.1:{sim.port}?timeout=1", phase_start_meter_wait_s=2.0) as client:
        session_id, _ = _open(client)
        for action in ("start", "stop"):
            assert client.post(
                f"/v1/sessions/{session_id}/phases/ranging/{action}", json={"agent_utc_ns": 1}
            ).is_success
            time.sleep(2.5 if action == "start" else 0)  # ranging samples, for the testing ranges
        sim.stop()
        reply = client.post(f"/v1/sessions/{session_id}/phases/testing/start", json={"agent_utc_ns": 2})
    assert reply.status_code == 502 and reply.json()["code"] == "meter_failed"
    detail = reply.json()["detail"]
    assert (
        "did not answer at the testing start" in detail and "attempt(s)" in detail and "run the session again" in detail
    )


# 3. the network between agent and director is lost for 30 s ----------------------------------------------------


@pytest.mark.slow
def test_thirty_second_network_outage_loses_nothing_and_is_noted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # an outage shorter than the agent's lease (a longer one ends the session: tests/e2e/test_leases.py)
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:220", extra=("--lease-s", "60"))
    proxy = CuttableProxy(int(url.rsplit(":", 1)[1])).start()
    # the outage is in ranging (36 s); testing needs no more than to be a phase
    argv = agent_argv(f"http://127.0.0.1:{proxy.port}", runs, tmp_path / "agent", "--label", "outage",
                      "--gpus", "sim:2", "--progress-s", "2", *phased_builtin("SingleStream", 36, 3))  # fmt: skip
    agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # how soon ranging starts depends on the machine's load (4 test workers on 2 cores took > 120 s once);
        # an agent that died is reported at once, with its output
        def ranging_started() -> bool:
            if agent.poll() is not None:
                raise AssertionError(f"the agent ended before ranging: {agent.communicate()[0][-2000:]}")
            return any(text_lines(p) >= 20 for p in runs.glob("*/ranging/spl.txt"))

        wait_for(ranging_started, 300, "ranging samples")
        proxy.cut()
        time.sleep(30)
        proxy.restore()
        output, _ = agent.communicate(timeout=240)
    finally:
        stop(agent, director)
        proxy.close()
    assert agent.returncode == 0, output
    assert "director not answering" in output  # the progress line said so while the link was down
    assert "PASS" in output or "FAIL" in output  # the session closed and was checked
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    record = json.loads((folder / "session.json").read_text())
    (outage,) = record["sut_link_outages"]
    assert 25 < (outage["until_utc_ns"] - outage["from_utc_ns"]) / 1e9 < 60
    client = json.loads((tmp_path / "agent" / folder.name / "power" / "client.json").read_text())
    stats = client["mlpower"]["gpu_sampler"]
    assert stats["send_failures"] > 0 and stats["batches_dropped"] == 0 and stats["undelivered_batches"] == 0
    batches = record["sut_batches"]
    assert all(not info["missing_seqs"] for info in batches.values())
    assert sum(info["received"] for info in batches.values()) == stats["batches_sent"]  # each batch arrived, once
    rows = sum(n for source, n in record["sut_samples"].items() if source.endswith(".power"))
    assert rows == stats["power_readings"]
    (note,) = _findings(folder)["0.sut_link"]
    assert "link to the director was down about" in note["message"] and "each stored once" in note["message"]


# 4. the disk is full or not writable ------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path):
    def make(**config: object) -> TestClient:
        url = "sim://?rate=0.1&signal=constant:100"
        return api_client(director_on(url, tmp_path / "runs", token=TOKEN, interval_ms=100, **config), TOKEN)

    return make


def _open(client: TestClient) -> tuple[str, Path]:
    reply = client.post(
        "/v1/sessions", json={"agent": {"label": "disk", "host": "h"}, "client_uuid": str(uuid.uuid4())}
    )
    assert reply.status_code == 201, reply.text
    session_id = reply.json()["session_id"]
    return session_id, Path(client.get(f"/v1/sessions/{session_id}").json()["run_folder"])


def test_too_little_free_space_refuses_the_phase_before_it_starts(api) -> None:
    with api(min_free_bytes=10**18) as client:
        session_id, folder = _open(client)
        reply = client.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1})
        assert reply.status_code == 507
        assert "MB free" in reply.json()["detail"] and "free some space" in reply.json()["detail"]
        assert client.get(f"/v1/sessions/{session_id}").json()["state"] == "open"
        assert not (folder / "ranging" / "spl.txt").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_mid_phase_stops_cleanly_and_says_why(api) -> None:
    with api() as client:
        session_id, folder = _open(client)
        # the spl.txt the phase will append to is on a device that is always full: every write fails with ENOSPC
        (folder / "ranging" / "spl.txt").symlink_to("/dev/full")
        reply = client.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1})
        assert reply.status_code == 200
        wait_for(lambda: client.get(f"/v1/sessions/{session_id}").json()["state"] == "failed", 10, "failed state")
        status = client.get(f"/v1/sessions/{session_id}").json()
        assert "No space left on device" in status["error"] and "ranging phase was stopped" in status["error"]
        stop = client.post(f"/v1/sessions/{session_id}/phases/ranging/stop", json={"agent_utc_ns": 2})
        assert stop.status_code == 409 and "No space left on device" in stop.json()["detail"]
        record = json.loads((folder / "session.json").read_text())
        assert record["state"] == "failed" and "No space left" in record["error"]
        assert (
            client.post("/v1/sessions", json={"agent": {"label": "next"}, "client_uuid": str(uuid.uuid4())}).status_code
            == 201
        )


def test_disk_filling_up_mid_phase_keeps_what_was_written(api, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(tiny)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        # a lease longer than the filling: nothing here keeps the session alive, and a loaded machine took over
        # the default 20 s to fill 24 kB at 10 Hz (the session then failed as silent, not as full)
        with api(min_free_bytes=1, lease_s=300.0) as client:
            session_id, folder = _open(client)
            (folder / "ranging" / "spl.txt").symlink_to(tiny / "spl.txt")
            reply = client.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1})
            assert reply.status_code == 200
            wait_for(lambda: client.get(f"/v1/sessions/{session_id}").json()["state"] == "failed", 60, "disk full")
            status = client.get(f"/v1/sessions/{session_id}").json()
            assert "No space left on device" in status["error"]
            kept = read_spl(tiny / "spl.txt")
            assert len(kept) >= 50 and status["samples"]["ranging"] == len(kept)
    finally:
        subprocess.run(["umount", "-l", str(tiny)], check=False)


# 5. a clock step on the SUT during a phase -------------------------------------------------------------------


@pytest.mark.slow
def test_clock_step_on_the_sut_during_a_phase_is_detected_and_reported(tmp_path: Path) -> None:
    from agent.client import DirectorClient
    from agent.run import RunOptions, run_session
    from agent.workload import builtin_workload

    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:150")
    step_ns = [0]

    def sut_clock() -> int:
        return time.time_ns() + step_ns[0]

    def say(message: str) -> None:
        if message.startswith("testing: running"):
            step_ns[0] = 1_500_000_000  # NTP (or a person) sets the SUT's clock 1.5 s ahead mid-phase

    try:
        token = (runs / "director.token").read_text().strip()
        with DirectorClient(url, token, clock_ns=sut_clock) as client:
            outcome = run_session(
                RunOptions("step", tmp_path / "agent", builtin_workload("SingleStream", 2), progress_s=60),
                client,
                say=say,
                clock_ns=sut_clock,
            )
    finally:
        stop(director)
    steps = [f for f in outcome.result.check.findings if f.rule == "7.clock_step"]
    assert len(steps) == 1 and steps[0].status == "fail"
    change_ms = float(re.search(r"changed by ([+-][\d.]+) ms", steps[0].message).group(1))  # type: ignore[union-attr]
    assert steps[0].message.startswith("testing:") and -1510 < change_ms < -1490  # SUT ahead: offset falls
    assert os.path.isdir(outcome.local_folder)
