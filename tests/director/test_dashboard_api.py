"""The dashboard's routes in-process: the token rule, the SSE feed and its resume, the run list, report links."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from director.app import Director, create_app
from director.live import LiveFeed
from director.watch import SampleLogFollower, Watcher, create_watch_app
from powerlog.tiers import MeasurementTier, tier_description
from tests.support.fake_result import unanalyzed
from tests.support.http_sessions import carry_session_secret
from tests.support.in_process import director_on
from tests.support.paths import FIXTURES

TOKEN = "d" * 32


@pytest.fixture
def director(ptd_sim, tmp_path: Path) -> Director:
    sim = ptd_sim("--signal", "constant:200")
    return director_on(
        sim.url,
        tmp_path / "runs",
        token=TOKEN,
        analyze=lambda folder: unanalyzed(folder, scenario="Offline", verdict="fail", official_verdict="pass"),
    )


def _events(text: str) -> list[tuple[str, dict]]:
    events = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def _live(client: TestClient, director: Director, **headers: str) -> list[tuple[str, dict]]:
    director.stopping = True  # the stream sends what the feed holds, then ends
    try:
        reply = client.get("/v1/live", headers=headers)
    finally:
        director.stopping = False
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    return _events(reply.text)


@pytest.mark.parametrize("path", ["/v1/live", "/v1/live/snapshot", "/v1/runs", "/v1/runs/x/report.html"])
def test_read_routes_need_the_token_unless_on_loopback(director, path: str) -> None:
    director.stopping = True
    anonymous = TestClient(create_app(director), base_url="http://127.0.0.1:8000")
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anonymous.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (200, 404)
    director.read_without_token = True
    assert anonymous.get(path).status_code in (200, 404)
    # through a name that is not loopback (DNS rebinding): the token or nothing (tests/director/test_host_header.py)
    rebound = anonymous.get(path, headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 403 and rebound.json()["code"] == "forbidden"
    # writing never opens up, loopback or not
    assert anonymous.post("/v1/sessions", json={}).status_code == 401


def test_page_and_assets_are_served_from_the_package(director) -> None:
    client = TestClient(create_app(director))
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")
    plotly_js = client.get("/static/plotly.min.js")
    assert plotly_js.status_code == 200 and len(plotly_js.content) > 1_000_000
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/other.js").status_code == 404


@pytest.mark.parametrize(
    ("page", "script", "names"),
    [("/docs", "swagger-ui-bundle.js", "SwaggerUIBundle"), ("/redoc", "redoc.standalone.js", "Redoc")],
)
@pytest.mark.parametrize("service", ["serve", "watch"])
def test_api_docs_load_nothing_from_outside(
    director, tmp_path, service: str, page: str, script: str, names: str
) -> None:
    """/docs and /redoc on an offline lab network, of ``serve`` and of ``watch``: every script, style and icon they
    name is served here (a CDN's copy left /docs blank); tests/e2e/test_dashboard_browser.py renders /docs with the
    network shut."""
    if service == "serve":
        app = create_app(director)
    else:
        app = create_watch_app(Watcher([SampleLogFollower(tmp_path / "spl.txt")]))
    client = TestClient(app)
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href|spec-url|url)\s*[=:]\s*["']([^"']+)["']""", html.text)
    assert any(u.endswith(script) for u in urls) and "/openapi.json" in urls, urls
    assert "http://" not in html.text and "https://" not in html.text and "//" not in "".join(urls)
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"].split(";")[0]
        expected = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
        assert kind == expected[Path(url).suffix], (url, kind)
        if url.endswith(script):
            assert names in asset.text and len(asset.content) > 500_000


def test_the_live_snapshot_tells_how_long_the_agent_has_been_silent(director) -> None:
    """What the page polls to show a silent agent: the active session's status, with its lease and silence."""
    with TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.get("/v1/live/snapshot").json()["active"] is None
        opened = client.post(
            "/v1/sessions", json={"agent": {"label": "quiet", "host": "h"}, "client_uuid": str(uuid.uuid4())}
        )
        assert opened.is_success, opened.text
        deadline = time.monotonic() + 60
        while True:  # the agent says nothing after opening: its silence grows
            active = client.get("/v1/live/snapshot").json()["active"]
            assert active["session_id"] == opened.json()["session_id"] and active["lease_s"] > 0
            if active["agent_silent_s"] >= 0.5:
                break
            assert time.monotonic() < deadline, active
            time.sleep(0.1)


def test_feed_streams_a_session_and_resumes_after_the_last_event(director) -> None:
    director.read_without_token = True
    with carry_session_secret(TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"})) as client:
        opened = client.post(
            "/v1/sessions", json={"agent": {"label": "feed", "host": "h"}, "client_uuid": str(uuid.uuid4())}
        )
        session_id = opened.json()["session_id"]
        for action in ("start", "stop"):
            reply = client.post(f"/v1/sessions/{session_id}/phases/ranging/{action}", json={"agent_utc_ns": 1})
            assert reply.status_code == 200
        events = _live(client, director)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "snapshot" and events[0][1]["active"]["session_id"] == session_id
        states = [data["state"] for kind, data in events if kind == "state"]
        assert states == ["open", "ranging", "ranged"]
        markers = [(data["phase"], data["what"]) for kind, data in events if kind == "marker"]
        assert markers == [("ranging", "start"), ("ranging", "stop")]
        # resuming after the second event gives the rest, none twice
        rest = _live(client, director, **{"Last-Event-ID": "2"})
        assert len(rest) == len(events) - 2
        assert [k for k, _ in rest[1:]] == kinds[3:]
        assert client.get("/v1/live?since=soon").status_code == 422


def test_a_closed_session_carries_both_verdicts_and_the_snapshot_the_directors_time(director) -> None:
    """The analyzer's verdicts of the run (the fake's differ: each field comes from its own place) on the closing
    state event, in the session's status and in the run list; the snapshot tells the director's now."""
    with carry_session_secret(TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"})) as client:
        opened = client.post(
            "/v1/sessions", json={"agent": {"label": "verdict", "host": "h"}, "client_uuid": str(uuid.uuid4())}
        )
        session_id = opened.json()["session_id"]
        for phase in ("ranging", "testing"):
            for action in ("start", "stop"):
                reply = client.post(f"/v1/sessions/{session_id}/phases/{phase}/{action}", json={"agent_utc_ns": 1})
                assert reply.status_code == 200, reply.text
                time.sleep(1.3 if (phase, action) == ("ranging", "start") else 0)  # testing ranges need a sample
        assert client.get(f"/v1/sessions/{session_id}").json()["verdict"] is None
        assert client.post(f"/v1/sessions/{session_id}/close").status_code == 200
        before_ns = time.time_ns()
        events = _live(client, director)
        after_ns = time.time_ns()
        snapshot = events[0][1]
        assert before_ns <= snapshot["now_utc_ns"] <= after_ns
        assert (snapshot["active"]["verdict"], snapshot["active"]["official_verdict"]) == ("fail", "pass")
        states = [(d["state"], d["verdict"], d["official_verdict"]) for kind, d in events if kind == "state"]
        assert states[-1] == ("closed", "fail", "pass")
        assert {v for s in states[:-1] for v in s[1:]} == {None}  # no verdict before the close
        status = client.get(f"/v1/sessions/{session_id}").json()
        assert (status["verdict"], status["official_verdict"]) == ("fail", "pass")
        listed = client.get("/v1/runs").json()[0]["result"]
        assert (listed["verdict"], listed["official_verdict"]) == ("fail", "pass")


def test_feed_keeps_the_newest_events_only() -> None:
    feed = LiveFeed(capacity=3)
    for i in range(5):
        feed.publish("power", i=i)
    assert [e.data["i"] for e in feed.after(0)] == [2, 3, 4]
    assert [e.seq for e in feed.after(4)] == [5]
    assert feed.after(5) == []


def _run_folder(runs: Path, name: str, closed: bool) -> None:
    folder = runs / name
    folder.mkdir()
    (folder / "session.json").write_text(json.dumps({"state": "closed" if closed else "failed", "simulated": True}))
    if closed:
        result = {"report": {"scenario": "Server", "power_metric": {"value": 250.0, "unit": "W"}}, "check": {}}
        (folder / "result.json").write_text(json.dumps(result))
        (folder / "report.html").write_text("<html>report</html>")


def test_run_list_links_reports_and_refuses_paths_outside(director, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _run_folder(runs, "2026-01-01_00-00-00_a", closed=True)
    _run_folder(runs, "2026-01-02_00-00-00_b", closed=False)
    (runs / "not-a-run").mkdir()
    (tmp_path / "secret.html").write_text("secret")
    client = TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"})
    listed = client.get("/v1/runs").json()
    assert [r["name"] for r in listed] == ["2026-01-02_00-00-00_b", "2026-01-01_00-00-00_a"]
    assert listed[0]["report"] is None and listed[0]["state"] == "failed"
    assert listed[1]["result"]["power_metric"]["value"] == 250.0
    assert client.get(listed[1]["report"]).text == "<html>report</html>"
    for name in ("..", "not-a-run", "..%2Fsecret.html", "%2e%2e", "2026-01-02_00-00-00_b"):
        reply = client.get(f"/v1/runs/{name}/report.html")
        assert reply.status_code == 404, name
        assert "secret" not in reply.text


def test_the_snapshot_names_the_meters_tier(director) -> None:
    """The director's meter is a PTDaemon (ptd://, the simulator): the live view's tier, not informative."""
    snapshot = _live(TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"}), director)[0]
    assert snapshot[0] == "snapshot" and snapshot[1]["meter_url"].startswith("ptd://")
    assert snapshot[1]["tier"] == {
        "name": "ptdaemon",
        "description": tier_description(MeasurementTier.PTDAEMON),
        "informative": False,
    }


def test_the_run_list_gives_each_runs_tier(director, tmp_path: Path) -> None:
    """The analyzer's tier (result.json) where the run has one, else the director's (session.json), else none;
    informative ones say so. The result here says direct while the session says ptdaemon, as for mlpower-ptd
    behind a ptd:// URL (the Identify reply tells), so the two are told apart."""
    runs = tmp_path / "runs"
    folders = {
        "2026-01-01_00-00-00_judged": ({"tier": "ptdaemon"}, {"tier": "direct"}),
        "2026-01-02_00-00-00_bmc": ({"tier": "bmc"}, {"tier": "bmc", "informative": True}),
        "2026-01-03_00-00-00_unanalyzed": ({"tier": "components"}, {}),
        "2026-01-04_00-00-00_failed": ({"tier": "bmc"}, None),
        "2026-01-05_00-00-00_older": ({}, None),  # a director before tiers: none known
    }
    for name, (session, report) in folders.items():
        (runs / name).mkdir()
        (runs / name / "session.json").write_text(json.dumps({"state": "closed", **session}))
        if report is not None:
            (runs / name / "result.json").write_text(json.dumps({"report": report, "check": {"verdict": "fail"}}))
    listed = {r["name"].rsplit("_", 1)[1]: r["tier"] for r in TestClient(create_app(director),
              headers={"Authorization": f"Bearer {TOKEN}"}).get("/v1/runs").json()}  # fmt: skip
    expected = {"judged": "direct", "bmc": "bmc", "unanalyzed": "components", "failed": "bmc", "older": None}
    assert {k: t and t["name"] for k, t in listed.items()} == expected
    for tier in filter(None, listed.values()):
        assert tier["description"] == tier_description(MeasurementTier(tier["name"]))
        assert tier["informative"] == (tier["name"] in ("bmc", "components"))


def test_uploaded_detail_log_marks_the_loadgen_window(director) -> None:
    director.read_without_token = True
    detail = (FIXTURES["xe8545_resnet_offline"] / "run_1" / "mlperf_log_detail.txt").read_bytes()
    with carry_session_secret(TestClient(create_app(director), headers={"Authorization": f"Bearer {TOKEN}"})) as client:
        opened = client.post(
            "/v1/sessions", json={"agent": {"label": "w", "host": "h"}, "client_uuid": str(uuid.uuid4())}
        )
        session_id = opened.json()["session_id"]
        for action in ("start", "stop"):
            client.post(f"/v1/sessions/{session_id}/phases/ranging/{action}", json={"agent_utc_ns": 1})
        reply = client.put(f"/v1/sessions/{session_id}/files/ranging/mlperf_log_detail.txt", content=detail)
        assert reply.status_code == 200, reply.text
        markers = {d["what"]: d["t_utc_ns"] for k, d in _live(client, director) if k == "marker"}
    assert 0 < markers["loadgen_end"] - markers["loadgen_begin"] < 3600 * 10**9
