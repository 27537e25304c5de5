"""A session belongs to its agent: every call into it carries the secret its opening returned (403 otherwise),
so another token holder cannot write into it. The token still gates everything."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agent.client import DirectorClient
from director.app import Director, create_app
from powerlog.wire import SESSION_SECRET_HEADER, AgentInfo, ClockMeasurement, OpenSessionRequest, SampleBatch
from tests.support.in_process import director_on
from tests.support.processes import start_director, stop

TOKEN = "t" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SESSION_ROUTE = "/v1/sessions/{session_id}"
CLOCK = {"offset_ns": 5_000_000_000, "bound_ns": 1000, "delay_ns": 2000, "rounds": 4, "kept": 4, "agent_utc_ns": 1}
BODIES: dict[str, Any] = {
    "clock": {"phase": "session", "when": "after", "clock": CLOCK},
    "samples": {"source": "gpu7", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [999.0]}},
    "sample-batches": {"batches": [{"source": "gpu7", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [999.0]}}]},
}


@pytest.fixture
def director(ptd_sim, tmp_path: Path) -> Director:
    sim = ptd_sim("--signal", "constant:200")
    return director_on(sim.url, tmp_path / "runs", token=TOKEN)


def _open(client: TestClient) -> dict[str, Any]:
    opened = client.post("/v1/sessions", json={"agent": {"label": "owner"}, "client_uuid": str(uuid.uuid4())})
    assert opened.status_code == 201, opened.text
    body: dict[str, Any] = opened.json()
    assert len(body["session_secret"]) >= 32
    return body


def _routes(routes):  # type: ignore[no-untyped-def]
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else (route,)


def _session_calls(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every route into one session but its status (what the list shows every token holder) and abort (an
    operator may abort from outside: tested below)."""
    calls = []
    for route in _routes(app.routes):
        path = getattr(route, "path", "")
        if not path.startswith(f"{SESSION_ROUTE}/") or path.endswith("/abort"):
            continue
        calls += [(method, path) for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})]
    return calls


def _state(client: TestClient, session_id: str) -> tuple[str, list[str]]:
    status = client.get(f"/v1/sessions/{session_id}").json()
    folder = Path(status["run_folder"])
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return json.dumps({k: v for k, v in status.items() if k not in ("last_power_w", "agent_silent_s")}), files


def test_every_call_into_a_session_without_its_secret_is_refused(director: Director) -> None:
    with TestClient(create_app(director), headers=BEARER) as client:
        session_id = _open(client)["session_id"]
        calls = _session_calls(client.app)
        assert len(calls) == 10, calls  # phases (3), clock, samples, batches, upload, heartbeat, close, result
        before = _state(client, session_id)
        for secret, says in ((None, f"missing {SESSION_SECRET_HEADER} header"), ("guess" * 10, "wrong")):
            headers = {SESSION_SECRET_HEADER: secret} if secret is not None else {}
            for method, path in calls:
                concrete = path.format(session_id=session_id, phase="ranging", folder="ranging",
                                       name="mlperf_log_detail.txt")  # fmt: skip
                body = BODIES.get(path.rsplit("/", 1)[1], {"agent_utc_ns": 1})
                reply = client.request(method, concrete, json=body, headers=headers)
                assert reply.status_code == 403, (method, path, reply.status_code, reply.text)
                assert reply.json()["code"] == "forbidden" and says in reply.json()["detail"], reply.json()
        assert _state(client, session_id) == before
        anonymous = TestClient(client.app).post(f"/v1/sessions/{session_id}/heartbeat")
        assert anonymous.status_code == 401  # the token first: a secret alone is not enough either


def test_an_operator_aborts_from_outside_and_the_agent_with_its_reason(director: Director) -> None:
    with TestClient(create_app(director), headers=BEARER) as client:
        opened = _open(client)
        wrong = client.post(f"/v1/sessions/{opened['session_id']}/abort", headers={SESSION_SECRET_HEADER: "x"})
        assert wrong.status_code == 403 and client.get(f"/v1/sessions/{opened['session_id']}").json()["state"] == "open"
        outside = client.post(f"/v1/sessions/{opened['session_id']}/abort", json={"reason": "stuck"})
        assert outside.json()["error"] == "aborted from outside (by a token holder, not its agent): stuck"
        second = _open(client)
        own = client.post(f"/v1/sessions/{second['session_id']}/abort", json={"reason": "the workload exited with 3"},
                          headers={SESSION_SECRET_HEADER: second["session_secret"]})  # fmt: skip
        assert own.json()["error"] == "aborted by the agent: the workload exited with 3"


def test_another_token_holder_cannot_write_into_a_running_session(tmp_path: Path) -> None:
    """The issue's attack, on a real director: a gpu7 batch and a +5 s clock report from a second token holder
    into an agent's running session are refused; the agent's own calls still go in."""
    runs = tmp_path / "runs"
    process, url = start_director(runs, "sim://?rate=0.1&signal=constant:200", settle_s=0)
    try:
        token = (runs / "director.token").read_text().strip()
        with DirectorClient(url, token) as owner:
            session = owner.open_session(
                OpenSessionRequest(agent=AgentInfo(label="owner"), client_uuid=str(uuid.uuid4()))
            )
            owner.phase(session, "ranging", "start")
            base = f"{url}/v1/sessions/{session.session_id}"
            intruder = {"Authorization": f"Bearer {token}"}
            for headers in (intruder, {**intruder, SESSION_SECRET_HEADER: "not-the-secret"}):
                for path in ("samples", "sample-batches", "clock"):
                    reply = httpx.post(f"{base}/{path}", json=BODIES[path], headers=headers, timeout=30)
                    assert reply.status_code == 403 and reply.json()["code"] == "forbidden", reply.text
            now = time.time_ns()
            batch = SampleBatch(source="gpu0", seq=0, columns={"t_utc_ns": [now], "power_w": [250.0]})
            owner.send_sample_batches(session, [batch])
            owner.report_clock(session, "ranging", "before", ClockMeasurement(**{**CLOCK, "offset_ns": 0}))
            owner.phase(session, "ranging", "stop")
            status = owner.status(session)
            owner.abort_session(session, "test done")
        folder = Path(status.run_folder)
        assert not list(folder.rglob("gpu7*")) and list(folder.rglob("gpu0*"))
        record = json.loads((folder / "session.json").read_text())
        assert [c["offset_ns"] for c in record["clock"]] == [0], record["clock"]
    finally:
        stop(process)
