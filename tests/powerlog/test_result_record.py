"""result.json's typed model: docs/file-formats.md lists exactly its fields; what the analyzer produces for
published results reads back unchanged (nothing dropped, absent sections stay absent); bad input is a
FormatError naming the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from analyzer.result import open_result
from powerlog.errors import FormatError
from powerlog.result_record import (
    CheckRecord,
    ReportRecord,
    ResultJson,
    parse_result_json,
    read_result_json,
    write_result_json,
)
from powerlog.tiers import MeasurementTier
from tests.support.paths import DATA_DIR, DOCS_DIR, FIXTURES

DOCS = DOCS_DIR / "file-formats.md"
DATA = DATA_DIR
RUNS = {
    **FIXTURES,
    "wt332_two_channels": DATA / "power-dev-runs" / "mlpower-ptd-wt332-sim",
    **{str(p.relative_to(DATA)): p for p in sorted((DATA / "mlperf-results-v4.1-v5.1").rglob("performance"))},
}


def _aside(description: str, name: str) -> str:
    """The text in the parentheses after `name`."""
    start = description.index(f"`{name}` (") + len(name) + 4
    depth, end = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(description[end], 0)
        end += 1
    return description[start : end - 1]


def test_the_docs_list_every_result_json_field_and_no_other() -> None:
    row = next(line for line in DOCS.read_text().splitlines() if line.startswith("| `result.json` |"))
    description = row.split(" | ")[2]
    top_level = re.sub(r"\([^()]*\)", "", re.sub(r"\([^()]*\)", "", description.split(": ", 1)[1]))
    assert set(re.findall(r"`([a-z_]+)`", top_level)) == set(ResultJson.model_fields)
    for name, model in (("report", ReportRecord), ("check", CheckRecord)):
        named = set(re.findall(r"`([a-z_]+)`", _aside(description, name).split(": ", 1)[1]))
        assert named == set(model.model_fields), (name, named ^ set(model.model_fields))


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_analysis_of_a_run_reads_back_unchanged(name: str, tmp_path: Path) -> None:
    result = open_result(RUNS[name])  # as the director opens it
    raw = {"report": result.report().to_json_obj(), "check": result.check_record().to_json_obj()}
    as_json = json.loads(json.dumps(raw))
    write_result_json(tmp_path / "result.json", parse_result_json(as_json))
    again = read_result_json(tmp_path / "result.json")
    assert json.loads((tmp_path / "result.json").read_text()) == {"format": "mlpower-result-1", **as_json}
    assert again.check.verdict == as_json["check"]["verdict"] and again.report.round == as_json["report"]["round"]
    assert again.check.errors == sum(1 for f in again.check.findings if f.is_error)


def test_an_older_result_reads_and_unknown_fields_are_ignored() -> None:
    result = parse_result_json({"report": {"scenario": "Offline", "future": 1}, "check": {"verdict": "pass"}})
    assert result.format == "mlpower-result-1" and result.report.power_metric is None
    assert "gpus" not in result.to_json_obj()["report"]  # not given: not written


@pytest.mark.parametrize(
    ("obj", "where"),
    [([], "a result is a JSON object"), ({"report": {}}, "check"),
     ({"report": {"power_metric": {"value": "many"}}, "check": {}}, "report.power_metric.value")],
)  # fmt: skip
def test_a_bad_result_is_a_format_error_naming_the_field(obj: object, where: str) -> None:
    with pytest.raises(FormatError, match=re.escape(where)):
        parse_result_json(obj)


def test_the_analyzers_report_is_the_typed_record() -> None:
    """One shape: the analyzer builds result.json's ReportRecord itself (tier a MeasurementTier), and
    result.json reads back as the same record."""
    result = open_result(FIXTURES["orin_offline"])
    report = result.report()
    assert isinstance(report, ReportRecord) and report.tier is MeasurementTier.PTDAEMON
    assert report.testing is not None and report.testing.samples_in_window == report.samples_in_window
    written = result.result_json()
    assert written.report is report and isinstance(written.check, CheckRecord)
    back = parse_result_json(json.loads(json.dumps(written.to_json_obj())))
    assert back.report.tier is MeasurementTier.PTDAEMON and back.report == report
