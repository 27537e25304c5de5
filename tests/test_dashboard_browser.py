"""The live dashboard in a real headless Chromium (Debian's, driven by Playwright), against a real director.

Screenshots are kept in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import agent_argv, start_director, stop

CHROMIUM = Path(os.environ.get("MLPOWER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# without the background-networking flags Chromium tries to reach Google at start, which a closed lab network refuses
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        if os.environ.get("MLPOWER_SKIP_BROWSER") == "1":
            pytest.skip("MLPOWER_SKIP_BROWSER=1 and no Chromium")
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium (or set MLPOWER_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


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


def _screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_dashboard_shows_a_session_live(browser, director, tmp_path: Path) -> None:
    url, runs = director
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector('#connection[data-state="live"]')
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
        page.wait_for_selector('li.marker-start[data-phase="testing"]')
        assert page.text_content("#phase") in ("testing", "ranging")
        wall_points = page.evaluate("document.getElementById('plot').data.find(t => t.name === 'wall').x.length")
        assert wall_points >= 10
        assert "s (" in (page.text_content("#elapsed") or "")
        assert page.is_visible("#simulated")
        _screenshot(page, "dashboard-live.png")
        output, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, output
    finally:
        if agent.poll() is None:
            agent.kill()
    page.wait_for_function("document.getElementById('state').textContent === 'closed'")
    page.wait_for_selector('li.marker-loadgen_end[data-phase="testing"]')
    shaded = page.evaluate("document.getElementById('plot').layout.shapes.filter(s => s.type === 'rect').length")
    assert shaded == 2  # the LoadGen window of both phases
    link = page.wait_for_selector("#runs tbody tr a")
    href = link.get_attribute("href")
    assert href is not None and href.endswith("/report.html")
    status = page.evaluate(f"fetch({href!r}).then(r => r.status)")
    assert status == 200
    row = page.text_content("#runs tbody tr")
    assert "SIMULATED" in row and "Offline" in row and " W" in row
    _screenshot(page, "dashboard-closed.png")
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
    _screenshot(page, "dashboard-token.png")


def test_chromium_is_debians(browser) -> None:
    # the browser driven is the distribution's at CHROMIUM (same version), not one Playwright downloaded
    reported = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, check=True).stdout
    assert browser.version and browser.version in reported
