"""report.html: self-contained (no network); the verdicts first, then errors, warnings, result, plot, the rest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.checks import check_run, verdict
from analyzer.context import result_context
from analyzer.html import WINDOW_OPACITY
from analyzer.official import official_checks, official_verdict
from analyzer.result import Result
from analyzer.rounds import get_round
from analyzer.run import RunData, load_run
from powerlog.spl import SPL_FIELDS
from tests.support.headless import TIMEOUT_MS, screenshot
from tests.support.paths import DATA_DIR, FIXTURES

LENOVO_LLAMA = (
    DATA_DIR / "mlperf-results-v4.1-v5.1" / "v5.1" / "closed" / "Lenovo" / "results" / "SR680a_V3_B200SXMx8_TRT"
    / "llama2-70b-99" / "Offline" / "performance"
)  # fmt: skip
MS = 1_000_000


def _load(folder: Path) -> RunData:
    return load_run(folder, spl_fields=SPL_FIELDS, hash_files=True, marks=True)


def _render(run: RunData, round_name: str = "v2.1") -> str:
    return Result(run, result_context(run, round_name)).html()


def _page(name: str) -> str:
    return _render(_load(FIXTURES[name]))


def _plotly_args(page: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and the layout given to Plotly.newPlot."""
    start = page.index("Plotly.newPlot(")
    decoder = json.JSONDecoder()
    at = page.index('"', start)
    _, at = decoder.raw_decode(page, at)  # the div id
    data, at = decoder.raw_decode(page, page.index("[", at))
    layout, _ = decoder.raw_decode(page, page.index("{", at))
    return data, layout


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def _with_clock(copy_fixture, simulated: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """The xe8545 Offline result with mlpower's session.json: the SUT clock 20 ms behind, then 30 ms."""
    perf = copy_fixture("xe8545_resnet_offline")
    window = load_run(perf).testing.window_utc_ns
    assert window is not None
    s = 1_000_000_000
    reports = [
        {
            "phase": "testing",
            "when": "before",
            "offset_ns": 20 * MS,
            "bound_ns": 100_000,
            "agent_utc_ns": window[0] - s,
        },
        {"phase": "testing", "when": "after", "offset_ns": 30 * MS, "bound_ns": 100_000, "agent_utc_ns": window[1] + s},
    ]
    record: dict[str, Any] = {"clock": reports}
    if simulated:
        record |= {"simulated": True, "simulated_sources": ["meter"]}
    (perf / "session.json").write_text(json.dumps(record))
    return perf


def test_page_is_offline_and_holds_result_plot_and_findings() -> None:
    page = _page("xe8545_resnet_offline")
    assert not re.search(r"<script[^>]+src=[\"']https?:", page)  # plotly.js is inline
    assert "1,390.99 W" in page and "94.44 samples/s/W" in page
    data, _ = _plotly_args(page)
    names = {trace.get("name") for trace in data}
    assert {"wall (in window)", "wall (outside window)", "channel 1", "channel 2", "channel 3"} <= names
    in_window = next(t for t in data if t.get("name") == "wall (in window)")
    assert len(in_window["y"]["bdata"] if isinstance(in_window["y"], dict) else in_window["y"]) > 0
    assert "9.testing_ranges" in page and "12.sources" in page


def test_both_verdicts_lead_the_page() -> None:
    """Before the first table: the official verdict, mlpower's, and what the result is."""
    run = _load(FIXTURES["orin_offline"])
    round_ = get_round("v2.1")
    findings = check_run(run, round_)
    official = official_verdict(official_checks(run, round_)).upper()
    head = _text(_render(run).split("<table", 1)[0])
    assert f"Official verdict {official}" in head and official == "FAIL"
    assert f"mlpower verdict {verdict(findings).value.upper()} 2 error(s), 1 warning(s)" in head
    assert "round v2.1" in head and "Offline (LoadGen VALID)" in head


def test_errors_then_warnings_then_the_rules_that_passed() -> None:
    page = _page("orin_offline")
    rows = re.findall(r'<tr class="(error|warning|pass|skipped)">(.*?)</tr>', page, re.S)
    outcomes = [outcome for outcome, _ in rows]
    assert outcomes.count("error") == 3  # 4.power_change, 10.testing_uncertainty and the official phases check
    last_error, first_warning = max(i for i, o in enumerate(outcomes) if o == "error"), outcomes.index("warning")
    assert last_error < first_warning < outcomes.index("pass")
    errors = [_text(row) for outcome, row in rows if outcome == "error"]
    assert any(e.startswith("official phases") for e in errors)
    assert any(e.startswith("10.testing_uncertainty") and "power/ptd_logs.txt:1741" in e for e in errors)
    assert (
        page.index('id="errors"') < page.index('id="warnings"') < page.index('id="result"') < page.index('id="rules"')
    )
    assert "<th>rule</th><th>status</th><th>official relation</th><th>finding</th>" in page
    assert "-7.34 %" in page


def test_a_clock_correction_is_shown(copy_fixture) -> None:  # type: ignore[no-untyped-def]
    run = _load(_with_clock(copy_fixture))
    clock = run.testing.clock
    assert clock is not None
    result = _text(_render(run).split('id="result"', 1)[1].split("</table>", 1)[0])
    assert f"Clock offset {clock.offset_ns / MS:+,.3f} ms" in result and 24 * MS < clock.offset_ns < 26 * MS
    assert f"Clock offset bound ±{clock.bound_ns / MS:,.3f} ms" in result
    assert "Clock change +10.000 ms" in result and "Without the correction" in result


def test_no_clock_correction_says_not_measured() -> None:
    result = _text(_page("xr12_singlestream").split('id="result"', 1)[1].split("</table>", 1)[0])
    assert "Clock correction not measured" in result and "Clock offset" not in result
    assert "Min / max power" in result and "Samples in window" in result and "Energy in window" in result


def test_simulated_sources_are_said_at_the_top(copy_fixture) -> None:  # type: ignore[no-untyped-def]
    head = _text(_render(_load(_with_clock(copy_fixture, simulated=True))).split("<table", 1)[0])
    assert "SIMULATED sources: not a real measurement" in head
    assert "SIMULATED" not in _text(_page("xe8545_resnet_offline").split("<table", 1)[0])


@pytest.mark.parametrize("folder", [FIXTURES["xe8545_resnet_offline"], LENOVO_LLAMA], ids=["xe8545", "lenovo"])
def test_the_loadgen_window_is_drawn_on_both_phases(folder: Path) -> None:
    """Shaded and bounded by two annotated lines, on each phase's own axes (a window that is most of the range,
    the Lenovo llama2 one, still shows its ends)."""
    run = _load(folder)
    _, layout = _plotly_args(_render(run, "v5.1" if folder == LENOVO_LLAMA else "v2.1"))
    shapes, annotations = layout["shapes"], layout["annotations"]
    for axis, phase in (("x", "ranging"), ("x2", "testing")):
        window = run.phases[phase].meter_window_utc_ns
        assert window is not None
        begin, end = (str(np.datetime64(t, "ns"))[:23] for t in window)
        mine = [s for s in shapes if s["xref"] == axis]
        rects = [s for s in mine if s["type"] == "rect"]
        assert len(rects) == 1 and (rects[0]["x0"], rects[0]["x1"]) == (begin, end)
        assert rects[0]["opacity"] >= WINDOW_OPACITY >= 0.2
        assert sorted(s["x0"] for s in mine if s["type"] == "line") == [begin, end]
        labels = {a["text"]: a["x"] for a in annotations if a.get("xref") == axis}
        assert labels == {"power_begin": begin, "power_end": end}


def test_cli_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    exe = Path(sys.executable).parent / "mlpower-analyzer"
    subprocess.run([str(exe), "report", "--html", str(out), str(FIXTURES["xr12_singlestream"])], check=True,
                   capture_output=True)  # fmt: skip
    page = out.read_text(encoding="utf-8")
    assert "268.21 mJ/query" in page and 'id="official-verdict"' in page


@pytest.mark.slow
def test_the_page_in_a_browser(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The published Lenovo llama2 result: the verdicts at the top of the window, the plot drawn with the windows."""
    out = tmp_path / "report.html"
    out.write_text(_render(_load(LENOVO_LLAMA), "v5.1"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_selector("#power-plot .main-svg")
    for box in ("#official-verdict", "#mlpower-verdict"):
        bounds = page.locator(box).bounding_box()
        assert bounds is not None and bounds["y"] + bounds["height"] < 900  # seen without scrolling
    assert page.text_content("#official-verdict .word") == "PASS"
    assert page.locator("#power-plot .shapelayer path, #power-plot .layer-below .shapelayer path").count() >= 6
    screenshot(page, "report.png")
    assert not errors, errors
