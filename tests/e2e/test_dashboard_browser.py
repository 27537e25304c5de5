"""The live dashboard in a real headless Chromium (Debian's, driven by Playwright, see headless.py), against a
real director. Screenshots are kept in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from powerlog.run_record import SessionJson, write_session_json
from powerlog.tiers import MeasurementTier, tier_description
from tests.support.headless import CHROMIUM, TIMEOUT_MS, screenshot
from tests.support.processes import agent_argv, start_director, start_redfish_sim, stop

pytestmark = pytest.mark.slow
BROWSER_CLOCK_BEHIND_S = 3600  # the browser's clock is an hour behind the director's: elapsed must not care


def _serve(tmp_path: Path, *extra: str) -> Iterator[tuple[str, Path]]:
    runs = tmp_path / "runs"
    process, url = start_director(runs, "sim://?rate=0.1", extra=extra)
    assert process.stdout is not None
    dashboard = process.stdout.readline()
    assert dashboard.startswith("dashboard: http://"), dashboard
    try:
        yield f"http://127.0.0.1:{url.rsplit(':', 1)[1]}", runs
    finally:
        stop(process)


@pytest.fixture
def director(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from _serve(tmp_path)


def _elapsed_s(page) -> float:  # type: ignore[no-untyped-def]
    return float(page.get_attribute("#elapsed", "data-seconds") or "nan")


def _marker_ns(page, phase: str, what: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.get_attribute(f'li.marker-{what}[data-phase="{phase}"]', "data-t-utc-ns") or 0)


def test_dashboard_shows_a_session_live(browser, director, tmp_path: Path) -> None:
    url, runs = director
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.clock.install(time=time.time() - BROWSER_CLOCK_BEHIND_S)  # Date and performance, running from there
    page.goto(url + "/")
    page.wait_for_selector('#connection[data-state="live"]')
    # no samples yet: no plot, so no placeholder axis (an empty date axis reads year 2000)
    assert page.is_visible("#plot-waiting") and page.is_hidden("#plot")
    assert page.locator(".xaxislayer-above, .main-svg").count() == 0
    assert page.is_hidden("#verdict")
    # sim:// is read by mlpower's own driver: the direct tier, measured and checked, not informative
    assert page.is_visible("#tier-line") and page.text_content("#tier") == "direct"
    assert page.text_content("#tier-description") == tier_description(MeasurementTier.DIRECT)
    assert page.is_hidden("#tier-informative") and page.get_attribute("#tier-line", "data-informative") == "false"
    argv = agent_argv(url, runs, tmp_path / "agent", "--label", "browser", "--benchmark", "builtin",
                      "--scenario", "Offline", "--duration", "4", "--gpus", "sim:2")  # fmt: skip
    agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page.wait_for_selector('li.marker-start[data-phase="ranging"]')
        page.wait_for_function("document.getElementById('power-w').textContent.endsWith(' W')")
        first = page.text_content("#power-w")
        # the live value moves: a new reading arrives at the meter's 10 Hz and the host-load signal varies
        page.wait_for_function(f"document.getElementById('power-w').textContent !== {first!r}")
        page.wait_for_function("document.getElementById('gpu-w').textContent.includes('(2 GPU)')")
        assert page.is_visible("#plot") and page.is_hidden("#plot-waiting")
        # the power axis says its unit (plotly.js 3 and later drop a title given as a bare string)
        assert page.text_content("#plot .ytitle") == "power (W)"
        assert page.text_content("#plot .xtitle") == "time (UTC)"
        page.wait_for_selector('li.marker-start[data-phase="testing"]')
        assert page.text_content("#phase") in ("testing", "ranging")
        wall_points = page.evaluate("document.getElementById('plot').data.find(t => t.name === 'wall').x.length")
        assert wall_points >= 10
        # the phase's elapsed time on the director's clock (this machine's): the browser's is an hour behind
        in_testing = "(e => e.textContent.endsWith('(testing)') && Number(e.dataset.seconds) >= 1)"
        page.wait_for_function(f"{in_testing}(document.getElementById('elapsed'))")
        elapsed_s = _elapsed_s(page)
        director_elapsed_s = (time.time_ns() - _marker_ns(page, "testing", "start")) / 1e9
        assert elapsed_s >= 0 and abs(elapsed_s - director_elapsed_s) < 2.0, (elapsed_s, director_elapsed_s)
        assert page.is_visible("#simulated")
        screenshot(page, "dashboard-live.png")
        output, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, output
    finally:
        if agent.poll() is None:
            agent.kill()
    page.wait_for_function("document.getElementById('state').textContent === 'closed'")
    page.wait_for_selector('li.marker-loadgen_end[data-phase="testing"]')
    # the closed session's verdicts, as the director's analyzer wrote them into result.json
    page.wait_for_selector("#verdict", state="visible")
    check = json.loads((runs / (page.text_content("#session-id") or "") / "result.json").read_text())["check"]
    assert check["verdict"] in ("pass", "fail") and check["official_verdict"] in ("pass", "fail")
    assert page.text_content("#verdict-mlpower .word") == check["verdict"].upper()
    assert page.text_content("#verdict-official .word") == check["official_verdict"].upper()
    testing_s = (_marker_ns(page, "testing", "stop") - _marker_ns(page, "testing", "start")) / 1e9
    assert page.text_content("#elapsed") == f"{testing_s:.0f} s (testing, stopped)" and testing_s > 0
    shaded = page.evaluate("document.getElementById('plot').layout.shapes.filter(s => s.type === 'rect').length")
    assert shaded == 2  # the LoadGen window of both phases
    # markers in time order, though a phase's LoadGen markers come with its logs, after its stop
    listed = page.eval_on_selector_all("#markers li", "items => items.map(li => [li.dataset.phase, li.dataset.what])")
    times = page.eval_on_selector_all("#markers li", "items => items.map(li => Number(li.dataset.tUtcNs))")
    assert times == sorted(times), listed
    assert listed[:4] == [["ranging", "start"], ["ranging", "loadgen_begin"], ["ranging", "loadgen_end"],
                          ["ranging", "stop"]], listed  # fmt: skip
    link = page.wait_for_selector("#runs tbody tr a")
    href = link.get_attribute("href")
    assert href is not None and href.endswith("/report.html")
    status = page.evaluate(f"fetch({href!r}).then(r => r.status)")
    assert status == 200
    # one row per run folder once the session has closed: never the list twice
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 1")
    row = page.text_content("#runs tbody tr")
    assert "SIMULATED" in row and "Offline" in row and " W" in row
    assert " W ± " in row and "(k=2)" in row  # the power metric with its error bar
    assert f"{check['verdict']} / {check['official_verdict']}" in row
    tier_cell = page.locator("#runs tbody tr").first.locator("td.tier")
    assert tier_cell.text_content() == "direct" and "INFORMATIVE" not in row
    assert tier_cell.get_attribute("title") == tier_description(MeasurementTier.DIRECT)
    screenshot(page, "dashboard-closed-session.png")
    assert not errors, errors


@pytest.fixture
def exposed_director(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from _serve(tmp_path, "--host", "0.0.0.0")


def test_dashboard_asks_for_the_token_off_loopback(browser, exposed_director) -> None:
    url, runs = exposed_director
    token = (runs / "director.token").read_text().strip()
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url + "/")
    page.wait_for_selector("#token-form", state="visible")
    assert page.get_attribute("#connection", "data-state") == "error"
    page.fill("#token", "not-the-token")
    page.click("#token-form button")
    page.wait_for_function("document.getElementById('token-error').textContent.includes('did not accept')")
    page.fill("#token", token)
    page.click("#token-form button")
    page.wait_for_selector('#connection[data-state="live"]')
    assert page.is_hidden("#token-form")
    screenshot(page, "dashboard-token.png")


def test_an_informative_tier_is_labelled_live_and_in_the_run_list(browser, tmp_path: Path) -> None:
    """A director on a (SIMULATED) BMC: the live view says bmc, INFORMATIVE, and what that means; so does the run
    list for an earlier run on it."""
    runs = tmp_path / "runs"
    earlier = runs / "2026-01-01_00-00-00_bmc"
    earlier.mkdir(parents=True)
    write_session_json(earlier / "session.json", SessionJson(state="closed", simulated=True, tier=MeasurementTier.BMC))
    sim = director = None
    try:
        sim, meter_url = start_redfish_sim("--rate", "0.5", "--signal", "constant:300")
        director, url = start_director(runs, meter_url)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_selector('#tier-line[data-informative="true"]')
        assert page.text_content("#tier") == "bmc" and page.is_visible("#tier-informative")
        assert page.text_content("#tier-informative") == "INFORMATIVE"
        assert page.text_content("#tier-description") == tier_description(MeasurementTier.BMC)
        cell = page.wait_for_selector('#runs tbody tr[data-run="2026-01-01_00-00-00_bmc"] td.tier')
        assert cell is not None and cell.text_content() == "bmc INFORMATIVE"
        assert "informative" in (cell.get_attribute("class") or "")
        assert cell.get_attribute("title") == tier_description(MeasurementTier.BMC)
        screenshot(page, "dashboard-informative-tier.png")
        assert not errors, errors
    finally:
        stop(director, sim)


def test_chromium_is_debians(browser) -> None:
    # the browser driven is the distribution's at CHROMIUM (same version), not one Playwright downloaded
    reported = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, check=True).stdout
    assert browser.version and browser.version in reported


def _closed_runs(runs: Path, count: int) -> list[str]:
    names = [f"2026-01-0{i + 1}_00-00-00_run" for i in range(count)]
    for name in names:
        (runs / name).mkdir(parents=True)
        write_session_json(runs / name / "session.json", SessionJson(state="closed", simulated=True))
    return names


def test_overlapping_loads_of_the_run_list_show_each_run_once(browser, tmp_path: Path) -> None:
    """Two loads of the run list at once (a session's closing state events, a reconnect): each run is listed once.
    Each reply's body is held back a little, as a busy director's is: the loads then overlap for certain."""
    runs = tmp_path / "runs"
    names = _closed_runs(runs, 3)
    director, url = start_director(runs, "sim://?rate=0.1")
    try:
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_function(f"document.querySelectorAll('#runs tbody tr').length === {len(names)}")
        rows = page.evaluate("""async () => {
            const realFetch = window.fetch;
            window.fetch = async (...args) => {
                const response = await realFetch(...args);
                const json = response.json.bind(response);
                response.json = () => json().then((v) => new Promise((done) => setTimeout(() => done(v), 300)));
                return response;
            };
            await Promise.all([loadRuns(), loadRuns(), loadRuns()]);
            window.fetch = realFetch;
            return [...document.querySelectorAll('#runs tbody tr')].map((tr) => tr.dataset.run);
        }""")
        assert rows == sorted(names, reverse=True)
        assert not errors, errors
    finally:
        stop(director)


def test_a_silent_agent_shows_and_can_be_aborted_with_the_token(browser, tmp_path: Path) -> None:
    """An agent that opened a session and went quiet: the page says so once it has been silent 5 s, with the
    lease, and aborts the session with the token typed in (the page itself stays token-less and read-only)."""
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1", extra=["--lease-s", "600"])
    try:
        token = (runs / "director.token").read_text().strip()
        opened = httpx.post(
            f"{url}/v1/sessions",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            json={"agent": {"label": "quiet", "host": "h"}, "client_uuid": str(uuid.uuid4())},
        )
        assert opened.is_success, opened.text
        session_id = opened.json()["session_id"]
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        page.wait_for_selector('#connection[data-state="live"]')
        page.wait_for_selector("#agent-silent", state="visible")
        seconds = float(page.get_attribute("#agent-silent", "data-seconds") or "nan")
        assert seconds >= 5
        assert int(page.text_content("#agent-silent-s") or "0") >= 5
        lease_s = opened.json()["lease_s"]  # --lease-s: long enough that only the page's abort ends the session
        assert f"after {lease_s:g} s of silence" in (page.text_content("#agent-lease") or "")
        curl = page.text_content("#abort-curl") or ""
        assert curl.startswith("curl -X POST ") and curl.endswith(f"{url}/v1/sessions/{session_id}/abort"), curl
        page.fill("#abort-token", "not-the-token")
        page.click("#abort-form button")
        page.wait_for_function("document.getElementById('abort-result').textContent.startsWith('not aborted')")
        assert "wrong token" in (page.text_content("#abort-result") or "")
        screenshot(page, "dashboard-silent-agent.png")
        page.fill("#abort-token", token)
        page.click("#abort-form button")
        page.wait_for_function(
            "document.getElementById('abort-result').textContent === 'aborted: the session is failed'"
        )
        page.wait_for_function(
            "document.getElementById('state').textContent.startsWith('failed: aborted from outside')"
        )
        page.wait_for_selector("#agent-silent", state="hidden")
        assert not errors, errors
    finally:
        stop(director)


def test_api_docs_render_with_the_network_shut(browser, director) -> None:
    """/docs on an offline lab network: Swagger UI comes from the director itself and shows the operations."""
    url, _ = director
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_the_director(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_director)
    page.goto(url + "/docs")
    page.wait_for_selector(".opblock")
    paths = page.eval_on_selector_all(".opblock-summary-path", "items => items.map(e => e.textContent)")
    assert any(p.startswith("/v1/sessions") for p in paths), paths
    screenshot(page, "api-docs-offline.png")
    assert not outside, outside
