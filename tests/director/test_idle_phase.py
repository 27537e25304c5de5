"""The optional idle phase (``mlpower-agent run --idle-s``) through the director's HTTP API in-process, the meter a
real PTDaemon simulator process: accepted only before ranging, recorded in ``idle/`` and session.json, and kept
out of power-dev's records (server.json, power/ptd_logs.txt) so that the official checker sees a plain session;
a director killed in the idle phase is recovered as in ranging."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from analyzer.checks import check_run
from analyzer.official import official_checks
from analyzer.rounds import get_round
from analyzer.run import load_run
from director.recovery import recover_interrupted
from powerlog.spl import SPL_FIELDS, read_spl
from tests.support.in_process import api_client, director_on

TOKEN = "t" * 32
REAL_IDENTIFY = (
    "YokogawaWT310E,1000,1,1,1,1,0,0,1,version={}-x,OS=Linux,mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;WT310E;0;F1"
)


@pytest.fixture
def api(ptd_sim, tmp_path: Path):
    sim = ptd_sim("--signal", "constant:200")
    director = director_on(sim.url, tmp_path / "runs", token=TOKEN, ptd_log=sim.log_path)
    with api_client(director, TOKEN) as client:
        yield client


def _open(api) -> dict:
    opened = api.post(
        "/v1/sessions", json={"agent": {"label": "idle", "host": "sut"}, "client_uuid": str(uuid.uuid4())}
    )
    assert opened.status_code == 201, opened.text
    return opened.json()


def _call(api, session_id: str, phase: str, action: str) -> dict:
    reply = api.post(f"/v1/sessions/{session_id}/phases/{phase}/{action}", json={"agent_utc_ns": time.time_ns()})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _ran(api, session_id: str, phase: str, seconds: float) -> None:
    _call(api, session_id, phase, "start")
    time.sleep(seconds)
    _call(api, session_id, phase, "stop")


def test_idle_phase_only_before_ranging(api) -> None:
    session_id = _open(api)["session_id"]
    state = lambda: api.get(f"/v1/sessions/{session_id}").json()["state"]  # noqa: E731
    assert api.post(f"/v1/sessions/{session_id}/phases/idle/stop", json={"agent_utc_ns": 1}).status_code == 409
    started = _call(api, session_id, "idle", "start")
    assert started["phase"] == "idle" and started["mark"].endswith("_idle") and state() == "idle"
    assert api.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1}).status_code == 409
    _call(api, session_id, "idle", "stop")
    assert state() == "idled"
    for phase in ("idle", "testing"):  # once only, and testing still needs ranging
        refused = api.post(f"/v1/sessions/{session_id}/phases/{phase}/start", json={"agent_utc_ns": 1})
        assert refused.status_code == 409 and refused.json()["code"] == "session_conflict", phase
    assert state() == "idled"
    _call(api, session_id, "ranging", "start")
    assert state() == "ranging"
    api.post(f"/v1/sessions/{session_id}/abort")
    # after ranging, too late for an idle phase
    later = _open(api)["session_id"]
    _ran(api, later, "ranging", 0.0)
    assert api.post(f"/v1/sessions/{later}/phases/idle/start", json={"agent_utc_ns": 1}).status_code == 409
    assert api.post("/v1/sessions/x/phases/idling/start", json={"agent_utc_ns": 1}).status_code in (404, 403)


def test_idle_phase_is_recorded_and_kept_out_of_powerdevs_records(api, tmp_path: Path) -> None:
    opened = _open(api)
    session_id, name = opened["session_id"], opened["session_name"]
    _ran(api, session_id, "idle", 2.3)
    _ran(api, session_id, "ranging", 1.3)
    _ran(api, session_id, "testing", 1.3)
    assert api.post(f"/v1/sessions/{session_id}/close").status_code == 200
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    idle = read_spl(folder / "idle" / "spl.txt")
    assert idle.marks == (f"{name}_idle",) and len(idle) >= 2
    record = json.loads((folder / "session.json").read_text())
    assert list(record["phases"]) == ["idle", "ranging", "testing"]
    assert len(record["phases"]["idle"]["director_utc_ns"]) == 4 and record["phases"]["idle"]["samples"] == len(idle)
    assert any(e["cmd"] == f"Go,1000,0,{name}_idle" for e in record["meter"]["exchanges"])  # session.json: all
    # power-dev's records: as a session without the idle phase
    server = json.loads((folder / "power" / "server.json").read_text())
    assert list(server["phases"]) == ["ranging", "testing"]
    cmds = [m["cmd"] for m in server["ptd_messages"]]
    assert cmds[:6] == ["Hello", "Identify", "RR", "SR,V,Auto", "SR,A,Auto", f"Go,1000,0,{name}_ranging"]
    assert cmds[9:] == [f"Go,1000,0,{name}_testing", "Stop", "Stop", "SR,V,Auto", "SR,A,Auto", "SR,A,Auto"]
    assert not any(m["cmd"].endswith(",idle") for m in server["messages"])
    ptd_log = (folder / "power" / "ptd_logs.txt").read_text()
    assert f"{name}_ranging" in ptd_log and f"{name}_idle" not in ptd_log
    assert f"{name}_idle" in (folder / "idle" / "ptd_logs.txt").read_text()
    for round_name in ("v4.1", "v5.1", "v6.1"):  # the checker finds the range restore by position: unchanged
        round_ = get_round(round_name)
        copy = tmp_path / round_name / "performance"
        shutil.copytree(folder, copy)
        for m in server["ptd_messages"]:
            if m["cmd"] == "Identify":
                m["reply"] = REAL_IDENTIFY.format(round_.ptd_versions[0])
        (copy / "power" / "client.json").write_text(json.dumps({k: v for k, v in server.items() if k[:4] != "ptd_"}))
        config = server["ptd_config"] if round_.ptd_config_list else server["ptd_config"][0]
        (copy / "power" / "server.json").write_text(json.dumps({**server, "ptd_config": config}))
        checks = {c.check: c for c in official_checks(load_run(copy, SPL_FIELDS, hash_files=True), round_)}
        assert checks["ptd_messages"].outcome.value == "pass", (round_name, checks["ptd_messages"].message)


def test_a_director_killed_in_the_idle_phase_is_recovered_as_in_ranging(api) -> None:
    session_id = _open(api)["session_id"]
    _call(api, session_id, "idle", "start")
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    deadline = time.monotonic() + 60
    while not (folder / "idle" / "spl.txt").is_file() or not (folder / "idle" / "spl.txt").read_text():
        assert time.monotonic() < deadline, "no idle sample written"
        time.sleep(0.2)
    # what a restarted director finds of a session killed now: session.json says idle, idle/spl.txt holds samples
    written = (folder / "idle" / "spl.txt").read_text()
    scratch = folder.parent.parent / "after-crash"
    shutil.copytree(folder, scratch / folder.name)
    api.post(f"/v1/sessions/{session_id}/abort")
    (found,) = recover_interrupted(scratch)
    assert found.state == "idle"
    record = json.loads((scratch / folder.name / "session.json").read_text())
    assert record["state"] == "failed" and record["interrupted"]["state"] == "idle"
    assert (scratch / folder.name / "idle" / "spl.txt").read_text() == written  # kept as written
    run = load_run(scratch / folder.name, SPL_FIELDS, hash_files=True, marks=True)
    interrupted = [f for f in check_run(run) if f.rule == "0.interrupted"]
    assert interrupted and "while the session was idle" in interrupted[0].message
