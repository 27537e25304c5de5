"""A power-limit sweep's answer on hand-made points: the Pareto frontier, the most efficient VALID setting, its gain
over the default limit, when the error bars make the ranking uncertain, and the outputs (table, Parquet, HTML)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analyzer.sweep import (
    SweepPoint,
    answer,
    frontier,
    most_efficient_valid,
    point_from_obj,
    point_from_result,
    text_table,
)
from analyzer.sweep_output import write_sweep_outputs
from powerlog.mllog import parse_detail_log
from powerlog.result_record import (
    CheckRecord,
    ErrorBarRecord,
    PerformanceRecord,
    QuantityRecord,
    ReportRecord,
    ResultJson,
)


def _point(limit_w: float, perf: float, power_w: float, error: float | None = 0.01, valid: bool = True) -> SweepPoint:
    return SweepPoint(
        limit_w=limit_w,
        session_id=f"s{limit_w:g}",
        performance=perf,
        performance_unit="samples/s",
        wall_power_w=power_w,
        wall_power_error_w=1.0,
        efficiency=perf / power_w,
        efficiency_error=error,
        efficiency_unit="samples/s/W",
        validity="VALID" if valid else "INVALID",
        failed_constraints=() if valid else ("latency constraint",),
    )


# efficiencies: 200 W 2.0, 250 W 2.8, 300 W 2.857 (INVALID), 350 W 2.571, 400 W 2.25
POINTS = [
    _point(200, 200.0, 100.0),
    _point(250, 350.0, 125.0),
    _point(300, 400.0, 140.0, valid=False),
    _point(350, 360.0, 140.0),  # dominated by 300 W: same power, less work
    _point(400, 450.0, 200.0),
]


def test_the_frontier_keeps_the_points_no_other_dominates_by_rising_power() -> None:
    assert [p.limit_w for p in frontier(POINTS)] == [200, 250, 300, 400]
    # equal points do not dominate each other: both stay
    twins = [_point(1, 10.0, 5.0), _point(2, 10.0, 5.0)]
    assert [p.limit_w for p in frontier(twins)] == [1, 2]


def test_the_best_is_the_most_efficient_valid_setting_not_an_invalid_one() -> None:
    best = most_efficient_valid(POINTS)
    assert best is not None and best.limit_w == 250  # 300 W is more efficient but INVALID
    assert most_efficient_valid([_point(1, 1.0, 1.0, valid=False)]) is None


def test_the_gain_is_over_the_default_limit_in_efficiency_and_performance() -> None:
    result = answer(POINTS, default_limit_w=400)
    assert result.best_limit_w == 250
    assert result.gain_pct == pytest.approx(100 * ((350 / 125) / (450 / 200) - 1))  # +24.4 %
    assert result.performance_change_pct == pytest.approx(100 * (350 / 450 - 1))  # -22.2 %
    sentence = result.sentence(POINTS)
    assert "+24.4 % samples/s/W at -22.2 % samples/s against the default limit 400 W" in sentence
    assert result.overlapping_limits_w == () and "NOT CERTAIN" not in sentence


def test_overlapping_error_bars_make_the_ranking_uncertain() -> None:
    points = [_point(250, 350.0, 125.0, error=0.2), _point(350, 360.0, 140.0, error=0.1), _point(400, 450.0, 200.0)]
    result = answer(points, default_limit_w=400)
    # |2.8 - 2.571| = 0.229 <= 0.2 + 0.1: overlap; |2.8 - 2.25| = 0.55 > 0.2 + 0.01: apart
    assert result.overlapping_limits_w == (350,)
    assert "NOT CERTAIN: its error bar overlaps those of 350 W" in result.sentence(points)


def test_no_default_point_and_no_valid_point_are_said() -> None:
    assert answer(POINTS, default_limit_w=500).gain_pct is None
    assert "the default limit 500 W was not measured" in answer(POINTS, default_limit_w=500).sentence(POINTS)
    assert "no single original limit" in answer(POINTS, default_limit_w=None).sentence(POINTS)
    invalid = [_point(1, 1.0, 1.0, valid=False)]
    assert answer(invalid, 1).best_limit_w is None and "no valid setting" in answer(invalid, 1).sentence(invalid)
    missing = [_point(250, 350.0, 125.0, error=None), _point(400, 450.0, 200.0)]
    assert answer(missing, 400).missing_error_bars


def test_points_round_trip_and_the_outputs_list_every_setting(tmp_path: Path) -> None:
    assert [point_from_obj(p.to_obj()) for p in POINTS] == POINTS
    result = answer(POINTS, default_limit_w=400)
    table = text_table(POINTS, result)
    assert "*best" in table and "INVALID (latency constraint)" in table
    report = tmp_path / "runs" / "s250" / "report.html"
    points = [*POINTS[:1], SweepPoint(**{**POINTS[1].to_obj(), "failed_constraints": (), "report_html": str(report)})]
    (tmp_path / "out").mkdir()
    write_sweep_outputs(tmp_path / "out", points, answer(points, 200))
    rows = pq.read_table(tmp_path / "out" / "sweep.parquet").to_pylist()
    assert [(r["limit_w"], r["best"], r["on_frontier"]) for r in rows] == [(200, False, True), (250, True, True)]
    page = (tmp_path / "out" / "sweep.html").read_text(encoding="utf-8")
    assert "href='../runs/s250/report.html'" in page and "plotly_click" in page


def test_a_points_figures_come_from_its_result_and_detail_log() -> None:
    report = ReportRecord(
        folder="/runs/s1",
        loadgen_validity="INVALID",
        avg_power_w=200.0,
        avg_power_uncertainty=ErrorBarRecord(expanded=2.0, unit="W", standard=1.0),
        performance=PerformanceRecord(value=400.0, unit="samples/s"),
        efficiency=QuantityRecord(value=2.0, unit="samples/s/W"),
        energy_j=2000.0,
        result_query_count=1,  # Offline: one query holding every sample
    )
    detail = parse_detail_log(
        "".join(
            f':::MLLOG {{"key": "{key}", "value": {value}, "time_ms": 1.0}}\n'
            for key, value in (("result_min_duration_met", "true"), ("result_perf_constraints_met", "false"))
        )
    )
    point = point_from_result(300.0, ResultJson(report=report, check=CheckRecord()), detail, session_id="s1")
    assert point.failed_constraints == ("latency constraint",) and not point.valid
    assert (point.energy_per_unit_j, point.energy_unit) == (0.5, "J/sample")  # 200 W / 400 samples/s
    assert point.energy_per_unit_error_j == pytest.approx(0.005)  # the wall power's 1 %
    assert point.report_html == "/runs/s1/report.html" and point.wall_power_error_w == 2.0
