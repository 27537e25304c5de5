"""The leaderboard page (``scan --html``) in a real headless Chromium: it renders offline, its table
sorts on a click, its links reach each result's report.html. Screenshot: test-artifacts/leaderboard.png."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer.cli import main
from tests.support.headless import TIMEOUT_MS, chromium, screenshot
from tests.support.paths import DATA_DIR, FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def _efficiencies(page: Any) -> list[float | None]:
    cells = page.eval_on_selector_all(
        "table.results tbody tr",
        "rows => rows.map(r => r.cells[6].dataset.v === undefined ? null : r.cells[6].dataset.v)",
    )
    return [None if c is None else float(c) for c in cells]


def test_leaderboard_sorts_links_and_plots(tmp_path: Path, browser: Any) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(DATA_DIR / "mlperf-results-v4.1-v5.1", tree / "recent")
    xr12 = tree / "v2.1" / "xr12-singlestream" / "performance"
    shutil.copytree(FIXTURES["xr12_singlestream"], xr12)
    assert main(["report", str(xr12), "--html", str(xr12 / "report.html")]) == 0
    page_path = tmp_path / "out" / "leaderboard.html"
    page_path.parent.mkdir()
    assert main(["scan", str(tree), "--html", str(page_path), "--no-progress"]) == 0

    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri(), timeout=TIMEOUT_MS)
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=TIMEOUT_MS)
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests  # offline
    assert page.locator(".plotly-graph-div").count() == 8  # 7 benchmark/scenario pairs + resnet50 SingleStream
    assert page.locator("table.results tbody tr").count() == 8
    assert "8 results" in page.locator(".counts").inner_text()

    header = page.locator("table.results th", has_text="efficiency")
    header.click()
    ascending = _efficiencies(page)
    assert ascending == sorted(ascending)  # every result here has an efficiency
    header.click()
    assert _efficiencies(page) == sorted(ascending, reverse=True)
    screenshot(page, "leaderboard.png")

    link = page.locator("table.results a", has_text="report")
    assert link.count() == 1 and link.get_attribute("href") == "../tree/v2.1/xr12-singlestream/performance/report.html"
    link.click()
    page.wait_for_selector("h1", timeout=TIMEOUT_MS)
    assert "mlpower report" in page.locator("h1").first.inner_text()
    page.close()
