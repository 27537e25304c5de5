"""The power metric and the energy in LoadGen's window: the official mean, trapezoidal energy, per-channel averages
and the published anchor figures, recomputed line by line."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.metrics import Performance, Quantity, Scenario, efficiency, power_metric, window_stats
from analyzer.report import build_report
from analyzer.rounds import get_round
from analyzer.run import load_run
from powerlog.spl import ChannelReadings, PowerLog
from tests.support.paths import FIXTURES

S = 1_000_000_000


def _log(t_s: list[float], power_w: list[float], channels: list[list[float]] | None = None) -> PowerLog:
    n = len(t_s)
    return PowerLog(
        path="mem",
        t_utc_ns=np.asarray([round(t * S) for t in t_s], dtype=np.int64),
        power_w=np.asarray(power_w, dtype=np.float64),
        volts_v=None,
        amps_a=None,
        pf=None,
        mark_index=np.zeros(n, dtype=np.int32),
        marks=("",),
        channels=tuple(ChannelReadings(np.asarray(c, dtype=np.float64)) for c in channels or []),
        line_number=np.arange(1, n + 1),
    )


def test_official_mean_uses_strictly_inside_samples_above_zero() -> None:
    log = _log([0, 1, 2, 3, 4, 5], [1000, 10, 0, 30, -5, 1000])
    stats = window_stats(log, 0, 5 * S)  # samples at exactly 0 s and 5 s are outside
    assert stats.samples_in_window == 2 and stats.all_samples_in_window == 4
    assert stats.avg_power_w == 20.0


def test_trapezoidal_energy_interpolates_to_the_window_edges() -> None:
    # power rises linearly 100 W/s: P(t) = 100 t; window 0.5 .. 3.5 s -> integral = 50 (3.5^2 - 0.5^2) = 600 J
    log = _log([0, 1, 2, 3, 4], [1e-9, 100, 200, 300, 400])
    stats = window_stats(log, S // 2, 3 * S + S // 2)
    assert stats.energy_j == pytest.approx(600.0)
    assert stats.max_sample_gap_s == pytest.approx(1.0)


def test_energy_holds_the_edge_value_when_no_sample_lies_outside() -> None:
    log = _log([1, 2], [100, 100])
    stats = window_stats(log, 0, 4 * S)
    assert stats.energy_j == pytest.approx(400.0)
    assert stats.max_sample_gap_s == pytest.approx(2.0)  # 2 s .. 4 s without a sample


def test_window_without_samples() -> None:
    stats = window_stats(_log([0, 10], [5, 5]), 1 * S, 9 * S)
    assert stats.samples_in_window == 0 and stats.avg_power_w is None and stats.energy_j is None
    assert stats.max_sample_gap_s == pytest.approx(8.0)


def test_channel_averages() -> None:
    stats = window_stats(_log([1, 2], [30, 50], [[10, 20], [20, 30]]), 0, 3 * S)
    assert stats.channel_avg_power_w == (15.0, 25.0)


def test_metric_formulas() -> None:
    assert power_metric(Scenario.OFFLINE, 100.0, 600.0, 1) == Quantity(100.0, "W")
    assert power_metric(Scenario.SINGLE_STREAM, 100.0, 600.0, 60000) == Quantity(1000.0, "mJ/query")
    per_query = power_metric(Scenario.MULTI_STREAM, 100.0, 600.0, 60000)
    assert efficiency(Scenario.MULTI_STREAM, None, per_query) == Quantity(8.0, "samples/J")
    assert efficiency(Scenario.SINGLE_STREAM, None, per_query) == Quantity(1.0, "samples/J")
    perf = Performance(1000.0, "samples/s", "result_samples_per_second")
    assert efficiency(Scenario.OFFLINE, perf, Quantity(100.0, "W")) == Quantity(10.0, "samples/s/W")
    with pytest.raises(ValueError, match="result_query_count"):
        power_metric(Scenario.SINGLE_STREAM, 100.0, 600.0, 0)


def test_anchor_xe8545_resnet50_offline() -> None:
    report = build_report(load_run(FIXTURES["xe8545_resnet_offline"]), get_round("v2.1"))
    assert f"{report.power_metric.value:.2f}" == "1390.99" and report.power_metric.unit == "W"
    assert report.testing.samples_in_window == 859
    assert report.performance.value == 131364
    assert f"{report.efficiency.value:.2f}" == "94.44" and report.efficiency.unit == "samples/s/W"
    assert len(report.testing.channel_avg_power_w) == 3


def test_anchor_xr12_singlestream() -> None:
    report = build_report(load_run(FIXTURES["xr12_singlestream"]), get_round("v2.1"))
    assert f"{report.power_metric.value:.2f}" == "268.21" and report.power_metric.unit == "mJ/query"


def test_metric_equals_a_line_by_line_recomputation_of_the_official_definition(fixture_dir) -> None:
    from datetime import UTC, datetime

    def ts(text: str) -> datetime:
        return datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC)

    detail = (fixture_dir / "run_1" / "mlperf_log_detail.txt").read_text()
    import json

    values = {}
    for line in detail.splitlines():
        obj = json.loads(line.removeprefix(":::MLLOG "))
        values[obj["key"]] = obj["value"]
    begin, end = ts(values["power_begin"]), ts(values["power_end"])
    watts = []
    for line in (fixture_dir / "run_1" / "spl.txt").read_text().splitlines():
        fields = line.split(",")
        if begin < ts(fields[1]) < end and float(fields[3]) > 0:
            watts.append(float(fields[3]))
    power = sum(watts) / len(watts)
    if values["effective_scenario"] in ("SingleStream", "MultiStream"):
        expected = power * (end - begin).total_seconds() * 1000 / values["result_query_count"]
    else:
        expected = power
    report = build_report(load_run(fixture_dir), get_round("v2.1"))
    assert report.power_metric.value == pytest.approx(expected, rel=1e-12)
    assert report.testing.samples_in_window == len(watts)
