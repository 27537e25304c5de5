"""report.html: self-contained (no network), with the result, the plot data and the findings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from analyzer.checks import check_run
from analyzer.html import render_html
from analyzer.report import build_report
from analyzer.rounds import get_round
from analyzer.run import load_run
from powerlog.spl import SPL_FIELDS
from tests.conftest import FIXTURES


def _page(name: str) -> str:
    run = load_run(FIXTURES[name], spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    round_ = get_round("v2.1")
    return render_html(build_report(run, round_), run, check_run(run, round_))


def _figure_data(page: str) -> list[dict]:
    match = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{', page, re.S)
    assert match, "no Plotly.newPlot call"
    return json.loads(match.group(1))


def test_page_is_offline_and_holds_result_plot_and_findings() -> None:
    page = _page("xe8545_resnet_offline")
    assert not re.search(r"<script[^>]+src=[\"']https?:", page)  # plotly.js is inline
    assert "1,390.99 W" in page and "94.44 samples/s/W" in page
    names = {trace.get("name") for trace in _figure_data(page)}
    assert {"wall (in window)", "wall (outside window)", "channel 1", "channel 2", "channel 3"} <= names
    in_window = next(t for t in _figure_data(page) if t.get("name") == "wall (in window)")
    assert len(in_window["y"]["bdata"] if isinstance(in_window["y"], dict) else in_window["y"]) > 0
    assert "9.testing_ranges" in page and "12.sources" in page


def test_failed_rules_are_marked() -> None:
    page = _page("orin_offline")
    assert page.count('class="fail error"') == 2 and "-7.34 %" in page


def test_cli_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    exe = Path(sys.executable).parent / "mlpower-analyzer"
    subprocess.run([str(exe), "report", "--html", str(out), str(FIXTURES["xr12_singlestream"])], check=True,
                   capture_output=True)  # fmt: skip
    assert "268.21 mJ/query" in out.read_text(encoding="utf-8")
