"""The director's HTTP API in-process (FastAPI's TestClient), the meter a real PTDaemon simulator process."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analyzer.official import official_checks
from analyzer.rounds import get_round
from analyzer.run import load_run
from powerlog.spl import SPL_FIELDS
from tests.support.in_process import api_client, director_on
from tests.support.paths import DOCS_DIR

TOKEN = "t" * 32


def _opening(label: str = "api") -> dict:
    return {"agent": {"label": label, "host": "sut"}, "client_uuid": str(uuid.uuid4())}


@pytest.fixture
def api(ptd_sim, tmp_path: Path):
    sim = ptd_sim("--signal", "constant:200")
    director = director_on(sim.url, tmp_path / "runs", token=TOKEN, max_upload_bytes=1000)
    with api_client(director, TOKEN) as client:
        client.director = director  # type: ignore[attr-defined]
        yield client


def _ran(api, session_id: str, phase: str, seconds: float = 0.0) -> None:
    for action in ("start", "stop"):
        reply = api.post(f"/v1/sessions/{session_id}/phases/{phase}/{action}", json={"agent_utc_ns": 1})
        assert reply.status_code == 200, reply.text
        time.sleep(seconds if action == "start" else 0)


def test_health_needs_no_token_and_everything_else_does(api) -> None:
    anonymous = TestClient(api.app)
    assert anonymous.get("/health").json()["status"] == "ok"
    for method, path in (("GET", "/v1/time"), ("POST", "/v1/sessions"), ("GET", "/v1/sessions")):
        missing = anonymous.request(method, path)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["code"] == "unauthorized"
        wrong = anonymous.request(method, path, headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401 and "wrong token" in wrong.json()["detail"]
    assert api.get("/v1/time").json()["send_utc_ns"] > 0


def test_second_session_gets_meter_busy(api) -> None:
    first = api.post("/v1/sessions", json=_opening("first"))
    assert first.status_code == 201
    second = api.post("/v1/sessions", json=_opening("second"))
    assert second.status_code == 409 and "meter busy" in second.json()["detail"]
    assert second.json()["code"] == "meter_busy"  # the ErrorReply the agent reads
    assert first.json()["session_id"] in second.json()["detail"]


def test_out_of_order_calls_are_409_and_change_nothing(api) -> None:
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    for path in ("phases/ranging/stop", "phases/testing/start", "close"):
        reply = api.post(f"/v1/sessions/{session_id}/{path}", json={"agent_utc_ns": 1})
        assert reply.status_code == 409 and reply.json()["code"] == "session_conflict", path
        assert "session state: open" in reply.json()["detail"] or "(session is open)" in reply.json()["detail"]
    assert api.get(f"/v1/sessions/{session_id}").json()["state"] == "open"
    _ran(api, session_id, "ranging")
    again = api.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1})
    assert again.status_code == 409
    assert api.get(f"/v1/sessions/{session_id}").json()["state"] == "ranged"
    assert api.post("/v1/sessions/nope/close").status_code == 404


def test_malformed_bodies_are_422(api) -> None:
    assert (
        api.post("/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    )
    assert api.post("/v1/sessions", json={"agent": {"label": "../x"}, "client_uuid": "x"}).status_code == 422
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    bad = api.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": "soon"})
    assert bad.status_code == 422
    assert api.get(f"/v1/sessions/{session_id}").json()["state"] == "open"


def test_uploads_are_allow_listed_size_limited_and_stay_in_the_session(api, tmp_path: Path) -> None:
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    early = api.put(f"/v1/sessions/{session_id}/files/ranging/mlperf_log_detail.txt", content=b"x")
    assert early.status_code == 409
    _ran(api, session_id, "ranging")
    base = f"/v1/sessions/{session_id}/files"
    assert api.put(f"{base}/ranging/mlperf_log_detail.txt", content=b"ok").status_code == 200
    for name in ("evil.sh", "%2e%2e", "spl.txt", "client.json"):
        assert api.put(f"{base}/ranging/{name}", content=b"x").status_code == 422, name
    assert api.put(f"{base}/ranging/..", content=b"x").status_code in (404, 422)  # clients normalise '..' away
    assert api.put(f"{base}/../../etc/passwd", content=b"x").status_code in (404, 422)
    assert api.put(f"{base}/secret/client.json", content=b"x").status_code == 422
    assert api.put(f"{base}/ranging/mlperf_log_summary.txt", content=b"x" * 1001).status_code == 413
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    assert (folder / "ranging" / "mlperf_log_detail.txt").read_bytes() == b"ok"
    assert not (folder / "ranging" / "mlperf_log_summary.txt").exists()
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(w.startswith(("runs/", "ptd_logs")) for w in written)


def test_testing_needs_ranging_samples_and_abort_frees_the_meter(api) -> None:
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    _ran(api, session_id, "ranging")  # stopped before the first 1 Hz sample
    no_samples = api.post(f"/v1/sessions/{session_id}/phases/testing/start", json={"agent_utc_ns": 1})
    assert no_samples.status_code == 409 and "cannot derive testing ranges" in no_samples.json()["detail"]
    assert api.post("/v1/sessions", json=_opening("second")).status_code == 409  # still held
    aborted = api.post(f"/v1/sessions/{session_id}/abort")
    assert aborted.status_code == 200 and aborted.json()["state"] == "failed"
    assert api.post("/v1/sessions", json=_opening("next")).status_code == 201


def test_testing_may_start_on_given_ranges_without_ranging(api) -> None:
    """A sweep's testing-only point: testing starts on the ranges the agent gives (no ranging phase); ranges are
    refused anywhere else, and must be positive."""
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    given = {"volts_v": 300.0, "amps_a": 2.0}
    refused = api.post(f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": 1, "ranges": given})
    assert refused.status_code == 422 and "only to start testing" in refused.json()["detail"]
    zero = {"agent_utc_ns": 1, "ranges": {"volts_v": 0, "amps_a": 2.0}}
    assert api.post(f"/v1/sessions/{session_id}/phases/testing/start", json=zero).status_code == 422
    started = api.post(f"/v1/sessions/{session_id}/phases/testing/start", json={"agent_utc_ns": 1, "ranges": given})
    assert started.status_code == 200, started.text
    assert started.json()["ranges"] == given and started.json()["state"] == "testing"
    assert api.post(f"/v1/sessions/{session_id}/abort").status_code == 200


def test_whole_session_over_the_api(api, tmp_path: Path) -> None:
    opened = api.post("/v1/sessions", json=_opening()).json()
    session_id = opened["session_id"]
    _ran(api, session_id, "ranging", seconds=1.3)
    _ran(api, session_id, "testing", seconds=1.3)
    reply = api.post(f"/v1/sessions/{session_id}/close")
    assert reply.status_code == 200 and reply.json()["report"]["folder"].endswith(session_id)
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    for name in ("session.json", "result.json", "power/server.json", "power/server.log", "run_1/spl.txt"):
        assert (folder / name).is_file(), name
    server = json.loads((folder / "power" / "server.json").read_text())
    cmds = [m["cmd"] for m in server["ptd_messages"]]
    name = opened["session_name"]
    assert cmds[:6] == ["Hello", "Identify", "RR", "SR,V,Auto", "SR,A,Auto", f"Go,1000,0,{name}_ranging"]
    assert cmds[6] == "Stop" and cmds[7].startswith("SR,V,") and cmds[8].startswith("SR,A,")
    assert cmds[9:] == [f"Go,1000,0,{name}_testing", "Stop", "Stop", "SR,V,Auto", "SR,A,Auto", "SR,A,Auto"]
    assert server["ptd_messages"][-4]["reply"] == "Error: no measurement to stop"
    assert [len(p) for p in server["phases"].values()] == [4, 4]
    _official_sees_the_checkers_sequence(folder, tmp_path)
    record = json.loads((folder / "session.json").read_text())
    assert record["simulated"] is True and record["phases"]["testing"]["ranges"]["amps_a"] > 0
    assert api.get(f"/v1/sessions/{session_id}/result").json()["check"]["verdict"] == "not analyzed"
    assert api.post("/v1/sessions", json=_opening("next")).status_code == 201


def test_sample_batches_are_validated_stored_once_and_marked_simulated(api) -> None:
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    batch = {"source": "gpu0", "seq": 0, "simulated": True, "columns": {"t_utc_ns": [1, 2], "power_w": [300.5, 301]}}
    assert api.post(f"/v1/sessions/{session_id}/samples", json=batch).json() == {"status": "stored", "rows": 2}
    assert api.post(f"/v1/sessions/{session_id}/samples", json=batch).json()["status"] == "duplicate"
    for bad in (
        {**batch, "columns": {"power_w": [1.0]}},
        {**batch, "columns": {"t_utc_ns": [1], "power_w": [1.0, 2.0]}},
        {**batch, "source": "../gpu"},
        {**batch, "columns": {"t_utc_ns": [1], "Power W": [1.0]}},
    ):
        assert api.post(f"/v1/sessions/{session_id}/samples", json=bad).status_code == 422
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    lines = (folder / "samples" / "gpu0.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["columns"]["power_w"] == [300.5, 301]
    assert api.get(f"/v1/sessions/{session_id}").json()["simulated"] is True


def test_metrics_in_prometheus_format(api) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    assert TestClient(api.app).get("/metrics").status_code == 401
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    _ran(api, session_id, "ranging", seconds=2.3)
    api.post(
        f"/v1/sessions/{session_id}/samples",
        json={"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1, 2, 3], "power_w": [1.0, 2.0, 3.0]}},
    )
    text = api.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("mlpower_session_state", (("state", "ranged"),))] == 1.0
    assert samples[("mlpower_wall_samples_total", (("phase", "ranging"),))] >= 2
    assert samples[("mlpower_wall_power_watts", ())] == pytest.approx(200.0, rel=0.1)
    assert samples[("mlpower_wall_energy_joules_total", (("phase", "ranging"),))] > 0
    assert samples[("mlpower_sut_samples_total", (("source", "gpu0.power"),))] == 3
    assert samples[("mlpower_sut_power_watts", (("source", "gpu0.power"),))] == 3.0
    assert samples[("mlpower_sut_batches_late_total", ())] == 1  # its readings are from 1970
    assert samples[("mlpower_wall_readings_rejected_total", ())] == 0
    # every series the Grafana dashboard in docs/ plots is one the director serves
    grafana = json.loads((DOCS_DIR / "grafana-dashboard.json").read_text())
    plotted = {
        m for panel in grafana["panels"] for t in panel["targets"] for m in re.findall(r"mlpower_\w+", t["expr"])
    }
    served = {family.name for family in text_string_to_metric_families(text)} | {name for name, _ in samples}
    assert len(plotted) >= 10 and plotted <= served
    assert samples[("mlpower_sessions_total", ())] == 1


def _official_sees_the_checkers_sequence(folder: Path, scratch: Path) -> None:
    """server.json as the official checker reads it: ptd_config a list of analyzers, and a command
    sequence whose range restore every round's checker finds. The simulated PTDaemon's version is
    refused, so the Identify reply is swapped for a real one (the sequence is what is checked)."""
    server = json.loads((folder / "power" / "server.json").read_text())
    (config,) = server["ptd_config"]
    assert config["device_type"] == 49 and config["channel"] is None and config["simulated"] is True
    real = (
        "YokogawaWT310E,1000,1,1,1,1,0,0,1,version={}-x,OS=Linux,mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;WT310E;0;F1"
    )
    for round_name in ("v4.1", "v5.0", "v5.1", "v6.0", "v6.1"):
        round_ = get_round(round_name)
        copy = scratch / round_name / "performance"
        shutil.copytree(folder, copy)
        for m in server["ptd_messages"]:
            if m["cmd"] == "Identify":
                m["reply"] = real.format(round_.ptd_versions[0])
        client = copy / "power" / "client.json"  # the agent writes it; this test has no agent
        client.write_text(json.dumps({k: v for k, v in server.items() if not k.startswith("ptd_")}))
        record = copy / "power" / "server.json"
        record.write_text(
            json.dumps({**server, "ptd_config": server["ptd_config"] if round_.ptd_config_list else config})
        )
        run = load_run(copy, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
        checks = {c.check: c for c in official_checks(run, round_)}
        assert "records" not in checks, checks["records"].message
        assert checks["ptd_messages"].outcome.value == "pass", (round_name, checks["ptd_messages"].message)
        assert checks["ptd_config"].outcome.value == "pass", (round_name, checks["ptd_config"].message)


def test_every_error_is_an_error_reply_with_its_code(api) -> None:
    from powerlog.wire import ErrorReply

    unknown = api.get("/v1/sessions/nope")
    assert unknown.status_code == 404 and ErrorReply.model_validate(unknown.json()).code == "unknown_session"
    no_run = api.get("/v1/runs/nope/report.html")
    assert no_run.status_code == 404 and ErrorReply.model_validate(no_run.json()).code == "not_found"


def test_several_sources_batches_in_one_request_are_each_stored_once(api) -> None:
    session_id = api.post("/v1/sessions", json=_opening()).json()["session_id"]
    batches = [
        {"source": f"gpu{i}.power", "seq": 0, "simulated": True, "columns": {"t_utc_ns": [1, 2], "power_w": [5.0, 6.0]}}
        for i in range(3)
    ]
    path = f"/v1/sessions/{session_id}/sample-batches"
    first = api.post(path, json={"batches": batches})
    assert first.status_code == 200 and first.json() == {"status": "ok", "stored": 3, "duplicates": 0, "rows": 6}
    again = api.post(path, json={"batches": [*batches, {**batches[0], "seq": 1}]})  # a re-send plus one new
    assert again.json() == {"status": "ok", "stored": 1, "duplicates": 3, "rows": 8}
    bad = api.post(path, json={"batches": [*batches, {"source": "x", "seq": 0, "columns": {"power_w": [1.0]}}]})
    assert bad.status_code == 422  # the whole request is refused: nothing of it stored
    assert api.post(path, json={"batches": []}).status_code == 422
