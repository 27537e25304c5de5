"""The live dashboard in a real headless Chromium (Debian's, driven by Playwright, see headless.py), against a
real director. Screenshots are kept in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from headless import CHROMIUM, TIMEOUT_MS, screenshot
from processes import agent_argv, start_director, start_redfish_sim, stop

from powerlog.run_record import SessionJson, write_session_json
from powerlog.tiers import MeasurementTier, tier_description

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
    link = page.wait_for_selector("#runs tbody tr a")
    href = link.get_attribute("href")
    assert href is not None and href.endswith("/report.html")
    status = page.evaluate(f"fetch({href!r}).then(r => r.status)")
    assert status == 200
    row = page.text_content("#runs tbody tr")
    assert "SIMULATED" in row and "Offline" in row and " W" in row
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
