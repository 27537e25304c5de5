"""Design power in the report: a published v5.1 result copied into a submission tree whose ``systems/`` folder gives
the system's nameplate power (MLPerf v6.1's ``<system_id>_power.yaml``, or ``system_power_capacity`` in its JSON)
shows its measured average power against it in result.json, the text report and the HTML; without the file the
record is unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analyzer.render import render_report
from analyzer.result import open_result
from powerlog.result_record import parse_result_json
from tests.support.paths import DATA_DIR

SYSTEM = "SR680a_V3_B200SXMx8_TRT"
PUBLISHED = DATA_DIR / "mlperf-results-v4.1-v5.1" / "v5.1" / "closed" / "Lenovo"
RESULT = Path("results") / SYSTEM / "whisper" / "Offline" / "performance"
NAMEPLATE = """\
Lenovo SR680a V3:
- Node 1:
  - Description: 'test: four 3200 W supplies, 3+1, made up for the test'
    Min PSUs Needed: 3
    PSUs:
    - {Name: PSU1, PowerCapacityWatts: 3200}
    - {Name: PSU2, PowerCapacityWatts: 3200}
    - {Name: PSU3, PowerCapacityWatts: 3200}
    - {Name: PSU4, PowerCapacityWatts: 3200}
  - Description: 'the switch'
    Min PSUs Needed: 1
    PSUs:
    - {Name: PSU1, PowerCapacityWatts: 600}
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The published result in its own submission tree (v5.1/closed/Lenovo/results/...), with a systems/ folder."""
    submitter = tmp_path / "v5.1" / "closed" / "Lenovo"
    shutil.copytree(PUBLISHED / RESULT, submitter / RESULT)
    (submitter / "systems").mkdir()
    return submitter


def test_the_report_shows_measured_power_against_the_nameplate_file(tree: Path) -> None:
    (tree / "systems" / f"{SYSTEM}_power.yaml").write_text(NAMEPLATE)
    result = open_result(tree / RESULT)
    report = result.report()
    design = report.design_power
    assert design is not None and report.avg_power_w is not None
    assert design.design_power_w == 3 * 3200 + 600
    assert design.avg_power_w == report.avg_power_w
    assert design.share_pct == pytest.approx(100 * report.avg_power_w / 10200, rel=1e-12)
    assert design.source == f"systems/{SYSTEM}_power.yaml" and design.problems == []

    obj = json.loads(json.dumps(result.result_json().to_json_obj()))
    assert obj["report"]["design_power"]["design_power_w"] == 10200
    assert parse_result_json(obj).report.design_power == design
    line = f"{report.avg_power_w:,.2f} W measured of 10,200 W design ({design.share_pct:.1f} %)"
    assert f"Design power      {line}, from systems/{SYSTEM}_power.yaml" in render_report(report)
    assert f"<tr><th>Design power</th><td>{line}" in result.html()


def test_system_power_capacity_in_the_system_json_takes_precedence(tree: Path) -> None:
    (tree / "systems" / f"{SYSTEM}_power.yaml").write_text(NAMEPLATE)
    (tree / "systems" / f"{SYSTEM}.json").write_text(
        json.dumps({"system_name": SYSTEM, "system_power_capacity": 14300})
    )
    design = open_result(tree / RESULT).report().design_power
    assert design is not None and design.design_power_w == 14300
    assert design.source == f"systems/{SYSTEM}.json (system_power_capacity)"


def test_a_broken_file_is_shown_with_its_problem_not_a_number(tree: Path) -> None:
    (tree / "systems" / f"{SYSTEM}_power.yaml").write_text("Node:\n  PSUs: [{PowerCapacityWatts: 3200}]\n")
    report = open_result(tree / RESULT).report()
    assert report.design_power is not None and report.design_power.design_power_w is None
    assert "n/a: Node: PSUs without 'Min PSUs Needed'" in render_report(report)


def test_without_the_file_the_record_is_as_published(tree: Path) -> None:
    published = open_result(PUBLISHED / RESULT).report().to_json_obj()
    copied = open_result(tree / RESULT).report().to_json_obj()
    assert "design_power" not in copied
    assert {k: v for k, v in copied.items() if k != "folder"} == {k: v for k, v in published.items() if k != "folder"}
