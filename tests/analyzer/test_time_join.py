"""The join by time (analyzer.time_join) and the audit of power-dev's line-index merge (analyzer.line_merge).

Every expected figure is worked out here by hand from power curves whose integrals are exact: linear
ramps (a trapezoid is exact on a line, whatever the instants) and a step halfway between two samples (the
trapezoid's ramp across it is symmetric about the step). Sources are sampled at their own rates and at
staggered instants; the window is 10 s from T0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.errors import TimeJoinError
from analyzer.findings import Severity, Status
from analyzer.line_merge import analyzer_own_times, audit_line_merge, line_merge_finding
from analyzer.time_join import (
    GAP_FACTOR,
    EstimatedInterconnect,
    WallSeries,
    interpolation_error_bound_j,
    join_by_time,
    source_energy,
)
from powerlog.result_record import CheckRecord, ReportRecord, ResultJson, SystemEnergyRecord, parse_result_json
from powerlog.spl import read_spl
from powerlog.tiers import MeasurementTier
from powerlog.timestamps import NS_PER_MS, NS_PER_S, format_ptd_timestamp

T0 = 1_767_225_600 * NS_PER_S  # 2026-01-01 00:00:00 UTC
WINDOW_S = 10
END = T0 + WINDOW_S * NS_PER_S
MS = NS_PER_MS


def _instants(first_ms: int, step_ms: int, last_ms: int) -> npt.NDArray[np.int64]:
    """T0 + first, first + step, ... up to last (ms relative to T0), as int64 ns."""
    return T0 + np.arange(first_ms, last_ms + 1, step_ms, dtype=np.int64) * MS


def _series(name: str, node: str, t: npt.NDArray[np.int64], curve: object, interval_s: float) -> WallSeries:
    seconds = (t - T0) / NS_PER_S
    power = np.asarray([curve(s) for s in seconds], dtype=np.float64)  # type: ignore[operator]
    return WallSeries(name, node, t, power, interval_s, MeasurementTier.DIRECT)


def _ramp_10hz() -> WallSeries:
    """node-a's analyzer, 10 Hz at -0.05 s + k x 0.1 s: 100 + 10 t W, 1000 + 500 = 1500 J over 10 s."""
    return _series("psu-a", "node-a", _instants(-50, 100, 10_150), lambda s: 100 + 10 * s, 0.1)


def _bmc_1hz() -> WallSeries:
    """node-a's BMC, 1 Hz at -0.3 s + k: 200 + 5 t W, 2000 + 250 = 2250 J."""
    return _series("bmc-a", "node-a", _instants(-300, 1000, 10_700), lambda s: 200 + 5 * s, 1.0)


def _step_10hz() -> WallSeries:
    """node-b's analyzer, 10 Hz: 50 W until 5 s, 150 W after (between the samples at 4.95 s and 5.05 s):
    50 x 5 + 150 x 5 = 1000 J."""
    return _series("psu-b", "node-b", _instants(-50, 100, 10_150), lambda s: 50.0 if s < 5 else 150.0, 0.1)


def _pdu_1hz() -> WallSeries:
    """node-b's PDU outlet, 1 Hz at -0.5 s + k: 300 - 10 t W, 3000 - 500 = 2500 J."""
    return _series("pdu-b", "node-b", _instants(-500, 1000, 10_500), lambda s: 300 - 10 * s, 1.0)


SWITCH = EstimatedInterconnect("leaf-switch", max_power_w=1000.0, share=0.25)  # 250 W x 10 s = 2500 J


def _system(*sources: WallSeries, query_count: int | None = 1000) -> SystemEnergyRecord:
    return join_by_time(sources, T0, END, interconnect=SWITCH, query_count=query_count)


def test_sources_at_their_own_rates_and_instants_give_the_exact_energy() -> None:
    system = _system(_ramp_10hz(), _bmc_1hz(), _step_10hz(), _pdu_1hz())
    a, b = system.nodes
    assert [s.energy_j for s in a.sources] == pytest.approx([1500.0, 2250.0], rel=1e-12)
    assert [s.energy_j for s in b.sources] == pytest.approx([1000.0, 2500.0], rel=1e-12)
    assert (a.node, a.energy_j, a.avg_power_w) == ("node-a", pytest.approx(3750.0), pytest.approx(375.0))
    assert (b.node, b.energy_j, b.energy_per_query_j) == ("node-b", pytest.approx(3500.0), pytest.approx(3.5))
    assert [s.samples_in_window for s in a.sources] == [100, 10]  # 0.05 .. 9.95 s; 0.7 .. 9.7 s
    assert system.energy_j == pytest.approx(3750.0 + 3500.0 + 2500.0, rel=1e-12)
    assert system.avg_power_w == pytest.approx(975.0) and system.energy_per_query_j == pytest.approx(9.75)
    assert system.complete and a.complete and b.complete and all(s.tier is MeasurementTier.DIRECT for s in a.sources)


def test_the_estimated_interconnect_is_named_and_counted() -> None:
    system = _system(_ramp_10hz())
    link = system.interconnect
    assert link is not None and link.estimated and link.name == "leaf-switch"
    assert (link.energy_j, link.avg_power_w, link.max_power_w, link.share) == (2500.0, 250.0, 1000.0, 0.25)
    assert system.estimated == ["leaf-switch"]
    assert system.energy_j == pytest.approx(1500.0 + 2500.0)
    measured = join_by_time([_ramp_10hz()], T0, END, interconnect=_pdu_1hz())
    assert measured.estimated == [] and measured.interconnect is not None
    assert not measured.interconnect.estimated and measured.interconnect.energy_j == pytest.approx(2500.0)


def test_the_window_edges_are_interpolated_between_the_samples_around_them() -> None:
    """0 W at -1 s, 200 W at 1 s and 9 s, 0 W at 11 s: the edges read 100 W, so 150 + 1600 + 150 = 1900 J
    (holding the nearest sample inside would give 2000 J)."""
    t = T0 + np.array([-1000, 1000, 9000, 11_000], dtype=np.int64) * MS
    series = WallSeries("edge", "node-a", t, np.array([0.0, 200.0, 200.0, 0.0]), interval_s=8.0)
    record = source_energy(series, T0, END)
    assert record.energy_j == pytest.approx(1900.0, rel=1e-12)
    assert record.samples_in_window == 2 and record.max_interval_s == 8.0 and record.complete


def test_a_gap_in_one_source_marks_it_its_node_and_the_system_incomplete() -> None:
    ramp = _ramp_10hz()
    keep = ~((ramp.t_utc_ns > T0 + 2_950 * MS) & (ramp.t_utc_ns < T0 + 4_050 * MS))  # 3.05 .. 3.95 s lost
    holed = WallSeries(ramp.name, ramp.node, ramp.t_utc_ns[keep], ramp.power_w[keep], ramp.interval_s)
    system = _system(holed, _bmc_1hz(), _step_10hz())
    a, b = system.nodes
    source = a.sources[0]
    assert [(g.kind, g.begin_utc_ns, g.end_utc_ns) for g in source.gaps] == [
        ("interval", T0 + 2_950 * MS, T0 + 4_050 * MS)
    ]
    assert source.gaps[0].length_s == pytest.approx(1.1) and source.max_interval_s == pytest.approx(1.1)
    assert not source.complete and a.sources[1].complete
    assert not a.complete and b.complete and not system.complete
    assert source.energy_j == pytest.approx(1500.0, rel=1e-12)  # a ramp is still exact: the gap is what is wrong


@pytest.mark.parametrize("beyond_ms", [-1, 1])
def test_an_interval_is_a_gap_only_beyond_the_gap_factor(beyond_ms: int) -> None:
    """1 Hz; the samples at 4.5 s and 5.5 s lost, the one at 6.5 s GAP_FACTOR s -/+ 1 ms after the one at 3.5 s."""
    t = np.delete(_instants(-500, 1000, 10_500), [5, 6])
    t[5] = T0 + 3_500 * MS + int(GAP_FACTOR * 1000 + beyond_ms) * MS
    record = source_energy(WallSeries("bmc", "n", t, np.full(t.shape, 300.0), 1.0), T0, END)
    assert record.max_interval_s == pytest.approx(GAP_FACTOR + beyond_ms / 1000)
    assert record.complete is (beyond_ms < 0) and record.energy_j == pytest.approx(3000.0)


def test_a_window_edge_far_from_the_samples_is_a_gap() -> None:
    t = _instants(3_400, 1000, 6_400)  # 3.4 .. 6.4 s: 3.4 s before the first, 3.6 s after the last (> 3 x 1 s)
    record = source_energy(WallSeries("late", "n", t, np.full(t.shape, 100.0), 1.0), T0, END)
    kinds = [(g.kind, g.length_s) for g in record.gaps]
    assert kinds == [("window_begin", pytest.approx(3.4)), ("window_end", pytest.approx(3.6))]
    assert not record.complete and record.energy_j == pytest.approx(1000.0)  # the held values: 100 W throughout


def test_a_window_edge_within_the_gap_factor_of_a_sample_is_sampling() -> None:
    t = _instants(400, 1000, 9_400)  # 0.4 .. 9.4 s: a 1 Hz meter started and stopped with the window
    record = source_energy(WallSeries("bmc", "n", t, np.full(t.shape, 100.0), 1.0), T0, END)
    assert record.gaps == [] and record.complete and record.energy_j == pytest.approx(1000.0)


def test_a_source_without_a_reading_has_no_figure_and_its_node_sums_the_rest() -> None:
    t = _instants(-500, 1000, 10_500)
    dead = WallSeries("dead", "node-a", t, np.full(t.shape, -1.0), 1.0)  # PTDaemon's -1: no reading
    system = join_by_time([_ramp_10hz(), dead], T0, END)
    record = system.nodes[0].sources[1]
    assert record.energy_j is None and [g.kind for g in record.gaps] == ["no_samples"] and not record.complete
    assert system.nodes[0].energy_j == pytest.approx(1500.0) and not system.nodes[0].complete


def test_per_node_figures_sum_to_the_total_within_1e_9() -> None:
    rng = np.random.default_rng(31)
    sources = []
    for n in range(72):  # 72 nodes of three sources each, at 1, 10 and 100 Hz, of very different magnitudes
        for k, interval_ms in enumerate((1000, 100, 10)):
            t = np.sort(rng.integers(-2_000, 12_000, size=14_000 // interval_ms)) * MS + T0
            power = rng.uniform(0.0, 10_000.0 * 10.0 ** -(n % 5), size=t.shape)
            sources.append(WallSeries(f"n{n}-s{k}", f"n{n}", t, power, interval_ms / 1000))
    system = join_by_time(sources, T0, END, interconnect=SWITCH)
    assert system.energy_j is not None and system.interconnect is not None
    node_sum = math.fsum([n.energy_j for n in system.nodes if n.energy_j is not None] + [system.interconnect.energy_j])
    assert abs(node_sum - system.energy_j) <= 1e-9 * system.energy_j
    for node in system.nodes:
        assert node.energy_j == math.fsum(s.energy_j for s in node.sources if s.energy_j is not None)


def test_the_system_record_reads_back_from_result_json_and_is_absent_unless_given() -> None:
    system = _system(_ramp_10hz(), _bmc_1hz(), _step_10hz())
    written = ResultJson(report=ReportRecord(scenario="Offline", system_energy=system), check=CheckRecord())
    back = parse_result_json(json.loads(json.dumps(written.to_json_obj())))
    assert back.report.system_energy == system and back.report.system_energy.nodes[0].sources[0].tier == "direct"
    plain = ResultJson(report=ReportRecord(scenario="Offline"), check=CheckRecord()).to_json_obj()
    assert "system_energy" not in plain["report"]


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: WallSeries("x", "n", np.array([1, 2]), np.array([1.0]), 1.0), "one length"),
        (lambda: WallSeries("x", "n", np.array([1.5, 2.5]), np.array([1.0, 2.0]), 1.0), "integer UTC"),
        (lambda: WallSeries("x", "", np.array([1]), np.array([1.0]), 1.0), "a name and a node"),
        (lambda: WallSeries("x", "n", np.array([1]), np.array([1.0]), 0.0), "positive number of seconds"),
        (lambda: EstimatedInterconnect("sw", 800.0, 1.5), "share must be in"),
        (lambda: join_by_time([_ramp_10hz(), _ramp_10hz()], T0, END), "named twice"),
        (lambda: join_by_time([_ramp_10hz()], END, T0), "end after it begins"),
        (lambda: join_by_time([_ramp_10hz()], T0, END, query_count=0), "query_count"),
    ],
)  # fmt: skip
def test_bad_input_is_a_time_join_error_saying_what(build: object, says: str) -> None:
    with pytest.raises(TimeJoinError, match=says):
        build()  # type: ignore[operator]


# the split property ------------------------------------------------------------------

SLOPE_W_PER_S = 50.0
KNOTS_S = np.arange(-2, 13, dtype=np.float64)  # a knot every second from -2 s to 12 s


@settings(max_examples=150, deadline=None)
@given(
    slopes=st.lists(st.floats(-SLOPE_W_PER_S, SLOPE_W_PER_S), min_size=14, max_size=14),
    offsets_ms=st.lists(st.integers(-2_000, 12_000), min_size=4, max_size=80, unique=True),
    mask=st.lists(st.booleans(), min_size=80, max_size=80),
    fraction=st.floats(0.1, 0.9),
)
def test_splitting_a_source_across_two_of_its_node_changes_its_energy_within_the_documented_bound(
    slopes: list[float], offsets_ms: list[int], mask: list[bool], fraction: float
) -> None:
    """A node's power curve (continuous, slope within 50 W/s) measured by one source, or split between two
    sources (fraction and 1 - fraction of it) each sampled at some of the instants: the node's energies
    differ by no more than the sum of the three sources' interpolation_error_bound_j, and the one source is
    within its own bound of the exact integral."""
    knots_w = 1000.0 + np.concatenate(([0.0], np.cumsum(slopes)))
    t = T0 + np.sort(np.asarray(offsets_ms, dtype=np.int64)) * MS
    chosen = np.asarray(mask[: t.shape[0]])
    assume(chosen.any() and not chosen.all())
    power = np.interp((t - T0) / NS_PER_S, KNOTS_S, knots_w)
    one = join_by_time([WallSeries("psu", "n", t, power, 1.0)], T0, END, gap_factor=1e9).nodes[0].energy_j
    parts = [WallSeries("psu1", "n", t[chosen], fraction * power[chosen], 1.0),
             WallSeries("psu2", "n", t[~chosen], (1 - fraction) * power[~chosen], 1.0)]  # fmt: skip
    split = join_by_time(parts, T0, END, gap_factor=1e9).nodes[0].energy_j
    assert one is not None and split is not None
    bound = interpolation_error_bound_j(t, T0, END, SLOPE_W_PER_S)
    bound += interpolation_error_bound_j(t[chosen], T0, END, fraction * SLOPE_W_PER_S)
    bound += interpolation_error_bound_j(t[~chosen], T0, END, (1 - fraction) * SLOPE_W_PER_S)
    assert abs(one - split) <= bound + 1e-6
    inside = (KNOTS_S >= 0) & (KNOTS_S <= WINDOW_S)
    exact = float(np.trapezoid(knots_w[inside], KNOTS_S[inside]))  # the knots lie on 0 s and 10 s
    assert abs(one - exact) <= interpolation_error_bound_j(t, T0, END, SLOPE_W_PER_S) + 1e-6


# the audit of power-dev's line-index merge -------------------------------------------

LAG_MS = 600  # analyzer 2's own Time trails the merged line's (analyzer 1's) on every line ...
LAST_LAG_MS = 900  # ... and more on the last line, outside the window


def _block(t_ns: int, watts: float, mark: str) -> str:
    return f"Time,{format_ptd_timestamp(t_ns)},Watts,{watts:.6f},Volts,230.000000,Amps,1.000000,PF,0.950000,Mark,{mark}"


def _two_analyzer_spl(path: Path, own_time_2: str | None = None) -> list[str]:
    """power-dev's merged lines, one a second from -3.5 s to 13.5 s: analyzer 1 at 100 W, analyzer 2 at
    200 + 10 t W on ITS OWN clock, which the line pairs with analyzer 1's sample LAG_MS earlier.

    Joined by time: 100 x 10 + 200 x 10 + 5 x 10^2 = 3500 J. The merge reads 300 + 10 (t + 0.6) W at t: 60 J
    more."""
    lines = []
    t1_values = _instants(-3_500, 1000, 13_500)
    for i, t1 in enumerate(t1_values.tolist()):
        lag = LAST_LAG_MS if i == len(t1_values) - 1 else LAG_MS
        t2 = t1 + lag * MS
        w1, w2 = 100.0, 200 + 10 * (t2 - T0) / NS_PER_S
        merged = abs(w1) + abs(w2)
        head = f"Time,{format_ptd_timestamp(t1)},Watts,{merged:.6f},Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,m"
        second = _block(t2, w2, "m")
        if own_time_2 is not None:
            second = second.replace(format_ptd_timestamp(t2), own_time_2)
        lines.append(f"{head},Analyzer1,{_block(t1, w1, 'm')},Analyzer2,{second}")
    path.write_text("\n".join(lines) + "\n")
    return lines


def test_the_audit_finds_where_the_line_merge_and_the_time_join_disagree(tmp_path: Path) -> None:
    lines = _two_analyzer_spl(tmp_path / "spl.txt")
    log = read_spl(tmp_path / "spl.txt")
    assert len(log.analyzers) == 2 and not log.bad_lines
    own = analyzer_own_times(lines, log)
    assert not isinstance(own, str)
    assert (own[1] - own[0]).tolist()[:-1] == [LAG_MS * MS] * (len(lines) - 1)
    audit = audit_line_merge(log, own, T0, END)
    assert audit.checkable and audit.analyzers == 2
    assert audit.time_join_energy_j == pytest.approx(3500.0, rel=1e-12)
    assert audit.line_merge_energy_j == pytest.approx(3560.0, rel=1e-12)
    assert audit.difference_j == pytest.approx(60.0, abs=1e-6)
    assert audit.difference_pct == pytest.approx(100 * 60 / 3500)
    assert [s.energy_j for s in audit.per_analyzer] == [pytest.approx(1000.0), pytest.approx(2500.0)]
    assert all(s.complete for s in audit.per_analyzer)
    assert (audit.max_offset_s, audit.max_offset_analyzer, audit.max_offset_line) == (0.9, 2, len(lines))
    finding = line_merge_finding(audit, "testing", "run_1/spl.txt")
    assert (finding.status, finding.severity) == (Status.FAIL, Severity.WARNING) and not finding.is_error
    assert "+1.714 %" in finding.message and finding.evidence[0].values["difference_j"] == pytest.approx(60.0)


def test_the_audit_says_when_the_line_merge_cannot_be_checked(tmp_path: Path) -> None:
    lines = _two_analyzer_spl(tmp_path / "spl.txt", own_time_2="not a time")
    log = read_spl(tmp_path / "spl.txt")
    assert len(log.analyzers) == 2 and not log.bad_lines  # the reader keeps an analyzer's own Time as text
    own = analyzer_own_times(lines, log)
    assert isinstance(own, str) and "analyzer 2's own Time does not read" in own
    audit = audit_line_merge(log, own, T0, END)
    assert not audit.checkable and audit.line_merge_energy_j is None and audit.difference_j is None
    finding = line_merge_finding(audit, "testing", "run_1/spl.txt")
    assert finding.status is Status.SKIPPED and "line-index merge cannot be checked" in finding.message
    (tmp_path / "one.txt").write_text(_block(T0, 100.0, "m") + "\n")
    single = read_spl(tmp_path / "one.txt")
    assert analyzer_own_times([_block(T0, 100.0, "m")], single) == "the log has one analyzer: nothing was merged"
