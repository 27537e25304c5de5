"""Sessions are leases: an agent that goes silent (killed with SIGKILL mid-phase) loses its session and the
meter is free for the next agent; one that waits on a long workload keeps its session with heartbeats.

Real processes on loopback: ``mlpower-director serve`` with a short ``--lease-s`` and ``mlpower-agent run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.in_process import api_client, director_on
from tests.support.nodes import sessions
from tests.support.processes import agent_argv, phased_builtin, run_agent, start_director, stop, wait_for

LEASE_S = 6.0  # short enough to wait for, long enough for a nice-19 agent on a loaded machine (2 s was not)
METER = "sim://?rate=0.1&signal=constant:200"
TOKEN = "t" * 32


def _kill(pid_file: Path) -> None:
    """The workload the killed agent left behind (it runs in a process group of its own)."""
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text())
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_an_agent_killed_mid_phase_loses_its_session_and_the_next_agent_measures(tmp_path: Path) -> None:
    runs, pid_file = tmp_path / "runs", tmp_path / "workload.pid"
    director, url = start_director(runs, METER, extra=("--lease-s", f"{LEASE_S:g}"))
    workload = f'echo $$ > "{pid_file}.new" && mv "{pid_file}.new" "{pid_file}"; exec sleep 1000'
    argv = agent_argv(url, runs, tmp_path / "killed", "--label", "killed", "--gpus", "none", "--", "sh", "-c", workload)
    agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(pid_file.is_file, 180, "the killed agent's workload")
        (held,) = sessions(url, runs)
        assert held["state"] == "ranging" and held["lease_s"] == LEASE_S
        time.sleep(3 * LEASE_S)  # heartbeats keep the session while the agent lives, longer than the lease
        (held,) = sessions(url, runs)
        assert held["state"] == "ranging" and held["agent_silent_s"] < LEASE_S, held
        agent.kill()
        agent.wait(timeout=60)
        killed_at = time.monotonic()

        def expired() -> dict[str, Any] | None:
            (status,) = sessions(url, runs)
            return status if status["state"] == "failed" else None

        status = wait_for(expired, 60, "the silent agent's session to expire")
        silent_s = int(re.fullmatch(r"agent silent for (\d+) s", status["error"])[1])  # type: ignore[index]
        # alive, the agent was heard within a lease (it sends a heartbeat every quarter lease; at nice 19 beside a
        # CPU hog one came 4 s before the kill): silent no longer than the lease before the kill, and since
        assert LEASE_S <= silent_s <= time.monotonic() - killed_at + LEASE_S
        record = json.loads((Path(status["run_folder"]) / "session.json").read_text())
        assert record["state"] == "failed" and record["error"] == status["error"]
        assert (Path(status["run_folder"]) / "ranging" / "spl.txt").stat().st_size > 0  # what was received is kept

        nxt = run_agent(url, runs, tmp_path / "next", "--label", "next", "--gpus", "none",
                        *phased_builtin("Offline", 1, 1))  # fmt: skip
        assert nxt.returncode == 0, nxt.stdout + nxt.stderr
        assert [s["state"] for s in sessions(url, runs)] == ["failed", "closed"]
    finally:
        stop(agent, director)
        _kill(pid_file)


@pytest.mark.slow
def test_heartbeats_keep_a_long_idle_phase_alive(tmp_path: Path) -> None:
    """A workload silent for several leases (no GPU samples either): the heartbeats alone hold the session."""
    runs = tmp_path / "runs"
    director, url = start_director(runs, METER, extra=("--lease-s", f"{LEASE_S:g}"))
    try:
        result = run_agent(url, runs, tmp_path / "agent", "--label", "idle", "--gpus", "none",
                           *phased_builtin("Offline", 4 * LEASE_S, 1))  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        (status,) = sessions(url, runs)
        assert status["state"] == "closed" and status["error"] is None
    finally:
        stop(director)


def test_a_failing_workload_aborts_with_its_real_cause(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(runs, METER)
    try:
        result = run_agent(url, runs, tmp_path / "agent", "--gpus", "none", "--", "sh", "-c", "exit 3")
        assert result.returncode != 0
        (status,) = sessions(url, runs)
        assert status["state"] == "failed"
        assert re.fullmatch(r"aborted by the agent: the workload .* exited with status 3", status["error"]), status
    finally:
        stop(director)


def test_serve_refuses_a_lease_that_is_not_a_positive_time(tmp_path: Path) -> None:
    for bad in ("0", "-5", "nan", "soon"):
        with pytest.raises(AssertionError, match="--lease-s"):
            start_director(tmp_path / "runs", METER, extra=("--lease-s", bad))


@pytest.fixture
def api(ptd_sim, tmp_path: Path):
    sim = ptd_sim("--signal", "constant:200")
    with api_client(director_on(sim.url, tmp_path / "runs", token=TOKEN, lease_s=30.0), TOKEN) as c:
        yield c


def _opening(label: str) -> dict[str, Any]:
    return {"agent": {"label": label, "host": "sut"}, "client_uuid": str(uuid.uuid4())}


def test_meter_busy_names_the_holder_its_silence_its_lease_and_the_way_out(api) -> None:
    first = api.post("/v1/sessions", json=_opening("first")).json()
    assert first["lease_s"] == 30.0
    busy = api.post("/v1/sessions", json=_opening("second"))
    assert busy.status_code == 409 and busy.json()["code"] == "meter_busy"
    detail = busy.json()["detail"]
    assert f"session {first['session_id']} (agent 'first') is open" in detail
    assert re.search(r"last heard \d+ s ago; its lease expires after 30 s of silence \(in \d+ s", detail), detail
    assert (
        f"curl -X POST -H 'Authorization: Bearer <token>' <director URL>/v1/sessions/{first['session_id']}/abort"
        in (detail)
    )


def test_a_heartbeat_is_204_and_after_the_end_says_why_the_session_ended(api) -> None:
    session_id = api.post("/v1/sessions", json=_opening("beats")).json()["session_id"]
    beat = api.post(f"/v1/sessions/{session_id}/heartbeat")
    assert beat.status_code == 204 and not beat.content
    assert api.get(f"/v1/sessions/{session_id}").json()["agent_silent_s"] < 30
    outside = TestClient(api.app, headers={"Authorization": f"Bearer {TOKEN}"})
    outside.post(f"/v1/sessions/{session_id}/abort", json={"reason": "freeing the meter"})
    late = api.post(f"/v1/sessions/{session_id}/heartbeat")
    assert late.status_code == 409 and late.json()["code"] == "session_conflict"
    assert (
        "the session has ended: aborted from outside" in late.json()["detail"]
        and "freeing the meter" in (late.json()["detail"])
    )
