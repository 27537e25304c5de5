"""Every endpoint against bad input: a 4xx with a message, and nothing in the session or its folder changes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from director.limits import MAX_JSON_BODY_BYTES
from tests.support.in_process import api_client, director_on

TOKEN = "b" * 32
JSON = {"Content-Type": "application/json"}
HUGE = b'{"agent_utc_ns": 1, "pad": "' + b"x" * (MAX_JSON_BODY_BYTES + 10) + b'"}'

# (method, path under the session, a valid body) for every endpoint that takes a body or changes state
ENDPOINTS = [
    ("POST", "phases/ranging/start", {"agent_utc_ns": 1}),
    ("POST", "phases/ranging/stop", {"agent_utc_ns": 1}),
    ("POST", "phases/testing/start", {"agent_utc_ns": 1}),
    ("POST", "phases/ranging/checkpoint", {"agent_utc_ns": 1}),
    ("POST", "clock", {"phase": "ranging", "when": "before", "clock": {"offset_ns": 1, "bound_ns": 1, "delay_ns": 1,
                                                                       "rounds": 8, "kept": 3, "agent_utc_ns": 1}}),
    ("POST", "samples", {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [1.0]}}),
    ("POST", "sample-batches", {"batches": [{"source": "gpu0.power", "seq": 0,
                                             "columns": {"t_utc_ns": [1], "power_w": [1.0]}}]}),
    ("POST", "close", None),
]  # fmt: skip
WRONG_TYPES = [
    {"agent_utc_ns": "soon"},
    {"agent_utc_ns": [1]},
    {"agent_utc_ns": 1.5e300},
    {"agent_utc_ns": None},
    [],
    "text",
    {"phase": 7, "when": "before", "clock": {}},
    {"source": "gpu0", "seq": -1, "columns": {"t_utc_ns": [1]}},
    {"source": "gpu0", "seq": 0, "columns": {"t_utc_ns": ["a"]}},
    {"source": "gpu0", "seq": 0, "columns": "all"},
    {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [True]}},
    {"source": "gpu0.power", "seq": "0", "columns": {"t_utc_ns": [1], "power_w": [1.0]}},
    {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [2**64], "power_w": [1.0]}},
]


@pytest.fixture
def api(ptd_sim, tmp_path: Path):
    sim = ptd_sim("--signal", "constant:200")
    director = director_on(sim.url, tmp_path / "runs", token=TOKEN)
    with api_client(director, TOKEN) as client:
        opened = client.post(
            "/v1/sessions", json={"agent": {"label": "bad", "host": "h"}, "client_uuid": str(uuid.uuid4())}
        )
        assert opened.status_code == 201
        client.session_id = opened.json()["session_id"]  # type: ignore[attr-defined]
        yield client


def _snapshot(api) -> tuple[str, dict[str, int]]:
    status = api.get(f"/v1/sessions/{api.session_id}").json()
    folder = Path(status["run_folder"])
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    files.pop("power/server.log", None)  # the director logs what it refused
    live = ("last_power_w", "energy_j", "agent_silent_s")  # figures that move on their own, not the session's state
    return json.dumps({k: v for k, v in status.items() if k not in live}), files


def _refused(reply, *codes: int) -> None:
    assert reply.status_code in codes, (reply.status_code, reply.text)
    detail = reply.json()["detail"]
    assert detail and isinstance(detail, str | list), detail


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_malformed_wrong_typed_and_huge_bodies_change_nothing(api, method: str, path: str, body) -> None:
    url = f"/v1/sessions/{api.session_id}/{path}"
    before = _snapshot(api)
    _refused(api.request(method, url, content=b"{not json", headers=JSON), 409, 422)
    _refused(api.request(method, url, content=b"\xff\xfe\x00garbage", headers=JSON), 409, 422)
    _refused(api.request(method, url, content=HUGE, headers=JSON), 413)
    if body is not None:
        for wrong in WRONG_TYPES:
            _refused(api.request(method, url, json=wrong), 409, 422)
        _refused(api.request(method, url, json={**body, "unexpected": 1}), 409, 422)
    assert _snapshot(api) == before


def test_unknown_sessions_and_phases_are_404(api) -> None:
    for method, path, body in ENDPOINTS:
        reply = api.request(method, f"/v1/sessions/no-such-session/{path}", json=body)
        _refused(reply, 404)
        assert "no session" in reply.json()["detail"]
    for phase in ("warmup", "..", "RANGING"):
        _refused(api.post(f"/v1/sessions/{api.session_id}/phases/{phase}/start", json={"agent_utc_ns": 1}), 404)


def test_replayed_and_out_of_order_calls_are_409_and_change_nothing(api) -> None:
    base = f"/v1/sessions/{api.session_id}"
    assert api.post(f"{base}/phases/ranging/start", json={"agent_utc_ns": 1}).status_code == 200
    before = _snapshot(api)
    for path in ("phases/ranging/start", "phases/testing/start", "phases/testing/stop", "close"):
        _refused(api.post(f"{base}/{path}", json={"agent_utc_ns": 1}), 409)
    assert _snapshot(api) == before
    assert api.post(f"{base}/phases/ranging/stop", json={"agent_utc_ns": 1}).status_code == 200
    before = _snapshot(api)
    _refused(api.post(f"{base}/phases/ranging/stop", json={"agent_utc_ns": 1}), 409)  # replayed
    batch = {"source": "gpu0.power", "seq": 3, "columns": {"t_utc_ns": [1], "power_w": [1.0]}}
    assert api.post(f"{base}/samples", json=batch).json()["status"] == "stored"
    stored = _snapshot(api)
    assert api.post(f"{base}/samples", json=batch).json()["status"] == "duplicate"  # replayed batch: stored once
    assert _snapshot(api) == stored != before


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("samples", {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [True]}},
         "not a sample batch: Expected `int | float`, got `bool` - at `$.columns[...][0]`"),
        ("samples", {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1, 2], "power_w": [1.0]}},
         "not a sample batch: columns differ in length: [1, 2]"),
        ("sample-batches", {"batches": [{"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1]}},
                                        {"source": "gpu0.power", "seq": 1, "columns": {"power_w": [1.0]}}]},
         "not a sample batch.batches[1]: columns must include t_utc_ns"),
    ],
)  # fmt: skip
def test_a_refused_batch_says_what_and_where(api, path: str, body, says: str) -> None:
    reply = api.post(f"/v1/sessions/{api.session_id}/{path}", json=body)
    assert reply.status_code == 422 and reply.json() == {"detail": says, "code": "invalid"}


def test_the_batch_routes_document_their_bodies(api) -> None:
    """The batch routes read their bodies themselves (see powerlog.wire_codec): the API's schema still shows them."""
    paths = api.get("/openapi.json").json()["paths"]
    for path, fields in (
        ("samples", {"source", "seq", "columns", "simulated", "kind"}),
        ("sample-batches", {"batches"}),
    ):
        schema = paths[f"/v1/sessions/{{session_id}}/{path}"]["post"]["requestBody"]["content"]["application/json"]
        assert set(schema["schema"]["properties"]) == fields
        assert "$ref" not in json.dumps(schema)


def test_a_body_without_a_length_is_counted_as_it_streams(api) -> None:
    def chunks():
        for _ in range(MAX_JSON_BODY_BYTES // (1 << 20) + 2):
            yield b" " * (1 << 20)

    before = _snapshot(api)
    _refused(api.post(f"/v1/sessions/{api.session_id}/samples", content=chunks(), headers=JSON), 413)
    assert _snapshot(api) == before


def test_path_traversal_in_upload_names_never_leaves_the_session_folder(api, tmp_path: Path) -> None:
    base = f"/v1/sessions/{api.session_id}"
    api.post(f"{base}/phases/ranging/start", json={"agent_utc_ns": 1})
    api.post(f"{base}/phases/ranging/stop", json={"agent_utc_ns": 1})
    for name in ("..%2F..%2Fevil.txt", "%2e%2e%2fevil.txt", "mlperf_log_detail.txt%00.sh", "..\\..\\evil.txt",
                 "%2Fetc%2Fpasswd", "ranging/../../evil.txt"):  # fmt: skip
        reply = api.put(f"{base}/files/ranging/{name}", content=b"evil")
        assert reply.status_code in (404, 405, 422), (name, reply.status_code)
    for folder in ("..", "%2e%2e", "power/..", "samples"):
        reply = api.put(f"{base}/files/{folder}/mlperf_log_detail.txt", content=b"evil")
        assert reply.status_code in (404, 405, 422), (folder, reply.status_code)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"evil"]


OPEN_ROUTES = {"/health", "/", "/static/{name}", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_route_but_the_open_ones_needs_the_token(api) -> None:
    """Walks the app's routes, so a route added later without the token check fails here."""
    anonymous = TestClient(api.app)
    checked = 0
    for route in _routes(api.app.routes):
        path = getattr(route, "path", "")
        if path in OPEN_ROUTES:
            continue
        concrete = path.replace("{session_id}", api.session_id).replace("{phase}", "ranging")
        concrete = concrete.replace("{folder}", "ranging").replace("{name}", "mlperf_log_detail.txt")
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            reply = anonymous.request(method, concrete, json={})
            assert reply.status_code == 401, (method, path, reply.status_code)
            checked += 1
    assert checked == 24  # 15 API routes, 4 node routes, /metrics, the live feed and snapshot, runs and a run's report


def _routes(routes):  # type: ignore[no-untyped-def]
    """The app's routes, including those of routers it included (FastAPI may keep those as one entry)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else (route,)


CLOCK = {"offset_ns": 1, "bound_ns": 1, "delay_ns": 1, "rounds": 8, "kept": 3, "agent_utc_ns": 1_700_000_000 * 10**9}
ABSURD_CLOCKS = [
    ({"offset_ns": 10**25}, "offset_ns", "more than a day"),
    ({"offset_ns": -(86_400 * 10**9 + 1)}, "offset_ns", "more than a day"),
    ({"bound_ns": 10**30}, "bound_ns", "between 0 and 86400000000000"),
    ({"delay_ns": -1}, "delay_ns", "between 0 and 86400000000000"),
    ({"agent_utc_ns": 10**25}, "agent_utc_ns", "2100-01-01"),
    ({"agent_utc_ns": -5}, "agent_utc_ns", "1970-01-01"),
    ({"rounds": 10**20}, "rounds", "10000"),
]


def _says(reply, field: str, text: str) -> None:
    assert reply.status_code == 422, (reply.status_code, reply.text)
    errors = reply.json()["detail"]
    assert any(e["loc"][-1] == field and text in e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    ("change", "field", "text"), ABSURD_CLOCKS, ids=[c[1] + str(i) for i, c in enumerate(ABSURD_CLOCKS)]
)
def test_absurd_clock_reports_are_refused_naming_the_field_and_its_range(api, change, field: str, text: str) -> None:
    """An offset of 10**25 ns was taken, and closing the session was then a 500 (OverflowError)."""
    base = f"/v1/sessions/{api.session_id}"
    before = _snapshot(api)
    body = {"phase": "ranging", "when": "before", "clock": {**CLOCK, **change}}
    _says(api.post(f"{base}/clock", json=body), field, text)
    opened = api.post("/v1/sessions", json={"agent": {"label": "x"}, "client_uuid": str(uuid.uuid4()),
                                            "clock": {**CLOCK, **change}})  # fmt: skip
    _says(opened, field, text)
    assert _snapshot(api) == before
    assert api.post(f"{base}/clock", json={**body, "clock": CLOCK}).status_code == 200  # a plausible one is taken


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_in_phase_clock_and_open_bodies_are_422_naming_the_field(api, number: bytes) -> None:
    """NaN or Infinity in a phase or clock body was a 500: now a 422 that says which field."""
    base = f"/v1/sessions/{api.session_id}"
    before = _snapshot(api)
    clock = json.dumps({**CLOCK, "offset_ns": 0}).replace('"offset_ns": 0', '"offset_ns": %s').encode() % number
    for path, body, field in [
        ("phases/ranging/start", b'{"agent_utc_ns": %s}' % number, "agent_utc_ns"),
        ("phases/ranging/checkpoint", b'{"agent_utc_ns": %s}' % number, "agent_utc_ns"),
        ("clock", b'{"phase": "ranging", "when": "before", "clock": %s}' % clock, "offset_ns"),
    ]:
        reply = api.post(f"{base}/{path}", content=body, headers=JSON)
        assert reply.status_code == 422 and [e["loc"][-1] for e in reply.json()["detail"]] == [field], reply.text
    gpus = b'{"agent": {"label": "x", "gpus": [{"power_limit_w": %s}]}, "client_uuid": "%s"}' % (
        number, str(uuid.uuid4()).encode())  # fmt: skip
    reply = api.post("/v1/sessions", content=gpus, headers=JSON)
    assert reply.status_code == 422 and "gpus" in json.dumps(reply.json()["detail"]), reply.text
    assert _snapshot(api) == before


GPU = {"index": 0, "name": "H100", "uuid": "GPU-1", "power_limit_w": 700.0, "energy_counter": True,
       "power_field": "instant", "simulated": False}  # fmt: skip
COMPONENT = {"name": "rapl:package-0", "family": "rapl", "readable": True}


@pytest.mark.parametrize(
    ("agent", "loc"),
    [
        ({"gpus": [{**GPU, "power_limit_w": -5}]}, ["gpus", 0, "power_limit_w"]),
        ({"gpus": [{k: v for k, v in GPU.items() if k != "name"}]}, ["gpus", 0, "name"]),
        ({"gpus": [{**GPU, "index": "first"}]}, ["gpus", 0, "index"]),
        ({"gpus": [{**GPU, "colour": "green"}]}, ["gpus", 0, "colour"]),
        ({"components": [{**COMPONENT, "max_energy_range_uj": -1}]}, ["components", 0, "max_energy_range_uj"]),
        ({"components": [{"name": "rapl:package-0"}]}, ["components", 0, "family"]),
    ],
)
def test_gpu_and_component_descriptions_are_typed_a_bad_one_is_422_naming_its_field(api, agent, loc) -> None:
    """The agent's GPU and component descriptions were any list of dicts: each field is now checked."""
    before = _snapshot(api)
    body = {"agent": {"label": "x", **agent}, "client_uuid": str(uuid.uuid4())}
    reply = api.post("/v1/sessions", json=body)
    assert reply.status_code == 422, reply.text
    assert [e["loc"][-len(loc) :] for e in reply.json()["detail"]] == [loc], reply.text
    assert _snapshot(api) == before
