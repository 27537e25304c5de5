"""Node agents over the director's API (in-process, a real ptd-sim meter): hello joins the active session or
says there is none, each node's batches are stored under nodes/<name>/ with its own clock entries, a node
absent at a phase start or silent past its lease is a gap in session.json, bad bodies are 422 naming the field,
and a node cannot write into an ended session, another node's place or without its secret."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agent.gpu.simulated import SimulatedGpus
from agent.node import NodeOptions, run_node
from agent.node_client import NodeClient
from powerlog.clock_map import SutClockMap
from powerlog.run_record import read_session_json
from powerlog.sut_samples import read_parquet
from tests.support.in_process import api_client, director_on
from tests.support.processes import wait_for

TOKEN = "t" * 32
NODE_SECRET = "X-Mlpower-Node-Secret"
OFFSET_NS = 3_000_000_000  # SIMULATED: the node's clock 3 s behind the director's
T0_NS = time.time_ns()


def _hello(name: str, instance: str | None = None, offset_ns: int | None = None) -> dict[str, Any]:
    sources = {"host": f"{name}-host", "simulated_gpus": True,
               "gpus": [{"index": 0, "name": "sim", "uuid": "GPU-0", "simulated": True}]}  # fmt: skip
    body: dict[str, Any] = {"instance": instance or str(uuid.uuid4()), "sources": sources}
    if offset_ns is not None:
        body["clock"] = {"offset_ns": offset_ns, "bound_ns": 1000, "delay_ns": 2000, "rounds": 8, "kept": 8,
                         "agent_utc_ns": T0_NS}  # fmt: skip
    return body


def _batches(seq: int, source: str = "gpu0.power", t0_ns: int = T0_NS) -> dict[str, Any]:
    columns = {"t_utc_ns": [t0_ns + seq * 10**9, t0_ns + seq * 10**9 + 10**8], "power_w": [300.0, 310.0]}
    return {"batches": [{"source": source, "seq": seq, "simulated": True, "columns": columns}]}


@pytest.fixture
def api(ptd_sim, tmp_path: Path):
    sim = ptd_sim("--signal", "constant:200")
    director = director_on(sim.url, tmp_path / "runs", token=TOKEN)
    with api_client(director, TOKEN) as client:
        client.director = director  # type: ignore[attr-defined]
        yield client


def _open(api) -> str:
    opened = api.post("/v1/sessions", json={"agent": {"label": "loadgen"}, "client_uuid": str(uuid.uuid4())})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["session_id"])


def _phase(api, session_id: str, phase: str, action: str) -> None:
    reply = api.post(f"/v1/sessions/{session_id}/phases/{phase}/{action}", json={"agent_utc_ns": 1})
    assert reply.status_code == 200, reply.text


def _join(api, name: str, **hello: Any) -> tuple[str, dict[str, str]]:
    reply = api.post(f"/v1/nodes/{name}/hello", json=_hello(name, **hello))
    assert reply.status_code == 200, reply.text
    session = reply.json()["session"]
    return f"/v1/nodes/{name}/sessions/{session['session_id']}", {NODE_SECRET: session["node_secret"]}


def test_hello_without_a_session_says_none_yet_and_then_joins_the_active_one(api) -> None:
    waiting = api.post("/v1/nodes/node1/hello", json=_hello("node1"))
    assert waiting.status_code == 200 and waiting.json()["session"] is None and waiting.json()["poll_s"] > 0
    session_id = _open(api)
    joined = api.post("/v1/nodes/node1/hello", json=_hello("node1")).json()
    assert joined["node"] == "node1" and joined["session"]["session_id"] == session_id
    assert joined["session"]["state"] == "open" and len(joined["session"]["node_secret"]) >= 32
    assert (
        api.post("/v1/nodes/node1/hello", json=_hello("node1"), headers={"Authorization": "Bearer x"}).status_code
        == 401
    )


def test_two_nodes_store_their_batches_apart_each_on_its_own_clock(api) -> None:
    session_id = _open(api)
    path1, secret1 = _join(api, "node1", offset_ns=OFFSET_NS)
    path2, secret2 = _join(api, "node2", offset_ns=-OFFSET_NS)
    for seq in range(3):
        stored = api.post(f"{path1}/sample-batches", json=_batches(seq), headers=secret1)
        assert stored.status_code == 200 and stored.json() == {"stored": 1, "duplicates": 0, "rows": 2}
    again = api.post(f"{path1}/sample-batches", json=_batches(2), headers=secret1).json()
    assert again == {"stored": 0, "duplicates": 1, "rows": 2}
    assert api.post(f"{path2}/sample-batches", json=_batches(0), headers=secret2).json()["stored"] == 1
    clock = {"phase": "ranging", "when": "before", "clock": _hello("x", offset_ns=OFFSET_NS + 1000)["clock"]}
    assert api.post(f"{path1}/clock", json=clock, headers=secret1).status_code == 204
    assert api.post(f"{path1}/heartbeat", headers=secret1).json()["state"] == "open"
    for phase in ("ranging", "testing"):
        _phase(api, session_id, phase, "start")
        time.sleep(1.3)  # a wall sample or two (1 Hz): testing's ranges come from ranging's
        _phase(api, session_id, phase, "stop")
    assert api.post(f"/v1/sessions/{session_id}/close").status_code == 200
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    record = read_session_json(folder / "session.json")
    node1, node2 = record.nodes["node1"], record.nodes["node2"]
    assert node1.samples == {"gpu0.power": 6} and node2.samples == {"gpu0.power": 2}
    assert node1.batches["gpu0.power"].received == 3 and node1.gaps == [] and node2.gaps == []
    assert [(c.phase, c.when) for c in node1.clock] == [("session", "before"), ("ranging", "before")]
    assert node1.sources is not None and node1.sources.host == "node1-host" and record.simulated
    assert record.sut_samples == {} and not (folder / "samples").exists()  # the LoadGen node's own: none
    columns = read_parquet(folder / "nodes" / "node1" / "samples" / "gpu0.power.parquet")
    assert list(columns["power_w"]) == [300.0, 310.0] * 3
    # each node's readings land on the director's clock by its own measurements, 6 s apart here
    first = int(columns["t_utc_ns"][0])
    on_director_1 = SutClockMap.from_entries(node1.clock).to_director_ns(first)
    on_director_2 = SutClockMap.from_entries(node2.clock).to_director_ns(first)
    assert on_director_1 - first == OFFSET_NS and on_director_2 - first == -OFFSET_NS
    assert (folder / "nodes" / "node2" / "samples" / "gpu0.power.parquet").is_file()


def test_a_node_missing_at_a_phase_start_or_silent_mid_phase_is_a_gap_and_the_session_goes_on(api) -> None:
    api.post("/v1/nodes/late/hello", json=_hello("late"))  # heard before the session: expected in it
    session_id = _open(api)
    path, secret = _join(api, "quiet")
    api.director.active.nodes.lease_s = 0.3  # a short lease for the test
    assert api.post(f"{path}/sample-batches", json=_batches(0), headers=secret).status_code == 200
    _phase(api, session_id, "ranging", "start")
    late_path, late_secret = _join(api, "late")
    time.sleep(0.6)
    assert api.post(f"{late_path}/heartbeat", headers=late_secret).status_code == 200  # "late" is no silent one
    _phase(api, session_id, "ranging", "stop")
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    record = json.loads((folder / "session.json").read_text())
    (missing,) = record["nodes"]["late"]["gaps"]
    assert missing["reason"] == "missing" and missing["phase"] == "ranging" and missing["until_utc_ns"] is not None
    (silent,) = record["nodes"]["quiet"]["gaps"]
    assert silent["reason"] == "silent" and silent["phase"] == "ranging" and silent["until_utc_ns"] is None
    assert silent["from_utc_ns"] == record["nodes"]["quiet"]["last_heard_utc_ns"]
    assert record["nodes"]["quiet"]["samples"] == {"gpu0.power": 2}  # what arrived before is kept
    assert record["state"] == "ranged"
    assert api.post(f"{path}/heartbeat", headers=secret).status_code == 200  # heard again: the gap ends
    (ended,) = api.director.active.nodes.records()["quiet"].gaps
    assert ended.until_utc_ns is not None and ended.until_utc_ns > ended.from_utc_ns


def test_bad_bodies_are_422_naming_the_field(api) -> None:
    bad_gpu = _hello("node1")
    bad_gpu["sources"]["gpus"][0]["index"] = -1
    reply = api.post("/v1/nodes/node1/hello", json=bad_gpu)
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"][-3:] == ["gpus", 0, "index"]
    assert api.post("/v1/nodes/node1/hello", json={"sources": {}}).json()["detail"][0]["loc"][-1] == "instance"
    for name in ("..", ".hidden", "a" * 65, "no space"):
        assert api.post(f"/v1/nodes/{name}/hello", json=_hello("x")).status_code in (404, 422), name
    _open(api)
    path, secret = _join(api, "node1")
    bad = _batches(0)
    bad["batches"][0]["columns"]["power_w"] = [1.0]
    reply = api.post(f"{path}/sample-batches", json=bad, headers=secret)
    assert reply.status_code == 422 and reply.json()["code"] == "invalid" and "batches[0]" in reply.json()["detail"]


def test_a_node_batch_needs_its_secret_a_joined_node_and_a_live_session(api) -> None:
    session_id = _open(api)
    path, secret = _join(api, "node1")
    no_secret = api.post(f"{path}/sample-batches", json=_batches(0))
    assert no_secret.status_code == 403 and no_secret.json()["code"] == "forbidden"
    wrong = api.post(f"{path}/sample-batches", json=_batches(0), headers={NODE_SECRET: "x" * 43})
    assert wrong.status_code == 403 and "wrong" in wrong.json()["detail"]
    stranger = api.post(f"/v1/nodes/node2/sessions/{session_id}/sample-batches", json=_batches(0), headers=secret)
    assert stranger.status_code == 403 and "say hello first" in stranger.json()["detail"]
    unknown = api.post("/v1/nodes/node1/sessions/nope/sample-batches", json=_batches(0), headers=secret)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_session"
    twin = api.post("/v1/nodes/node1/hello", json=_hello("node1"))  # another agent under the same name
    assert twin.status_code == 409 and "its own --name" in twin.json()["detail"]
    assert api.post(f"/v1/sessions/{session_id}/abort").status_code == 200
    ended = api.post(f"{path}/sample-batches", json=_batches(0), headers=secret)
    assert ended.status_code == 409 and ended.json()["code"] == "session_conflict"
    assert "hello for the next one" in ended.json()["detail"]
    assert api.post(f"{path}/heartbeat", headers=secret).json()["state"] == "failed"
    assert api.post("/v1/nodes/node1/hello", json=_hello("node1")).json()["session"] is None  # none active now


def test_the_node_agent_joins_streams_its_simulated_gpus_measures_its_clock_per_phase_and_leaves(api) -> None:
    """The agent's side, in-process: ``run_node`` with 2 SIMULATED GPUs through the API's own transport."""
    stop = threading.Event()
    options = NodeOptions("node1", SimulatedGpus(2), gpu_rate_hz=20, heartbeat_s=0.1, clock_rounds=2, max_sessions=1)
    client = NodeClient("http://testserver", TOKEN, "node1", transport=api._transport)
    said: list[str] = []
    node = threading.Thread(target=lambda: run_node(options, client, stop, said.append), daemon=True)
    node.start()
    try:
        wait_for(lambda: any("waiting" in line for line in said), 10, "the node waiting for a session")
        session_id = _open(api)
        wait_for(lambda: api.director.active.nodes.get("node1") is not None, 10, "the node joining")
        for phase in ("ranging", "testing"):
            _phase(api, session_id, phase, "start")
            time.sleep(1.3)
            _phase(api, session_id, phase, "stop")
            time.sleep(0.5)
        assert api.post(f"/v1/sessions/{session_id}/close").status_code == 200
        node.join(timeout=15)
        assert not node.is_alive()
    finally:
        stop.set()
        client.close()
    folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    record = read_session_json(folder / "session.json").nodes["node1"]
    points = [(c.phase, c.when) for c in record.clock]
    assert points == [("session", "before"), ("ranging", "before"), ("ranging", "after"), ("testing", "before"),
                      ("testing", "after")]  # fmt: skip
    assert record.sources is not None and record.sources.simulated_gpus and len(record.sources.gpus) == 2
    assert set(record.samples) == {"gpu0.power", "gpu1.power", "gpu0.energy", "gpu1.energy"} and record.gaps == []
    assert record.samples["gpu0.power"] > 40  # 20 Hz over more than 3.6 s
    assert (folder / "nodes" / "node1" / "samples" / "gpu1.power.parquet").is_file()
    assert any(f"session {session_id} closed" in line for line in said)
