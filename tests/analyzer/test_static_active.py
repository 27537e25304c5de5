"""Static power and active energy (analyzer.static_active): the maths by hand, and a shipped result folder with an
idle phase added (idle/spl.txt and session.json phases.idle) whose split adds up and whose verdicts do not move."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzer.checks import check_run, verdict
from analyzer.error_bars import error_bar, system_energy_budgets
from analyzer.idle import IdleData
from analyzer.official import official_checks
from analyzer.report import build_report
from analyzer.rounds import get_round
from analyzer.run import load_run
from analyzer.static_active import (
    NO_IDLE_PHASE,
    active_energy_budget,
    per_node_split,
    split_energy,
    static_energy_budget,
)
from analyzer.system_run import SystemWall
from analyzer.time_join import WallSeries, join_by_time
from analyzer.uncertainty import Budget, ClockBound, Term
from powerlog.run_record import PhaseRecord, SessionJson, write_session_json
from powerlog.spl import SPL_FIELDS, PowerSample, SplWriter
from powerlog.tiers import MeasurementTier
from tests.support.paths import DATA_DIR

NS = 1_000_000_000
IDLE_W = 5.0
T0 = 1_765_000_000 * NS


def test_static_and_active_energy_add_up_to_the_total_by_hand() -> None:
    static_j, active_j = split_energy(1000.0, 10.0, 40.0)
    assert (static_j, active_j) == (400.0, 600.0) and static_j + active_j == 1000.0
    assert split_energy(300.0, 10.0, 40.0) == (400.0, -100.0)  # a load below idle is a negative active energy


def test_the_difference_adds_its_components_in_quadrature() -> None:
    energy = Budget(1000.0, "J", (Term("accuracy", 3.0, "meter"), Term("sampling", 4.0, "edges")))
    static = Budget(40.0, "W", (Term("accuracy", 0.1, "meter"), Term("sampling", 0.2, "instants")))
    active = active_energy_budget(energy, static, 10.0)
    assert active.value == 600.0 and active.unit == "J"
    assert [t.name for t in active.terms] == ["testing accuracy", "testing sampling", "idle accuracy", "idle sampling"]
    assert active.standard == pytest.approx(math.sqrt(9 + 16 + 1 + 4))  # the idle terms x T = 10 s
    assert active.expanded == pytest.approx(2 * math.sqrt(30))
    static_j = static_energy_budget(static, 10.0)
    assert static_j.value == 400.0 and static_j.standard == pytest.approx(10 * math.sqrt(0.01 + 0.04))


def _copy(tmp_path: Path, name: str) -> Path:
    perf = tmp_path / name / "performance"
    shutil.copytree(DATA_DIR / "nvidia-orin-maxq-resnet50-offline" / "performance", perf)
    return perf


def _with_idle(perf: Path, idle: bool) -> None:
    """An mlpower session.json; with ``idle``, an idle phase from 30 s to 10 s before the testing window, its
    samples a constant 5 W at 2 Hz (from 35 s to 5 s before, so that the window's edges have samples around)."""
    begin_ns = load_run(perf).testing.meter_window_utc_ns[0]  # type: ignore[index]
    phases = {}
    if idle:
        checkpoints = [begin_ns - 31 * NS, begin_ns - 30 * NS, begin_ns - 10 * NS, begin_ns - 9 * NS]
        phases["idle"] = PhaseRecord(mark="s_idle", samples=61, director_utc_ns=checkpoints)
        (perf / "idle").mkdir()
        with SplWriter(perf / "idle" / "spl.txt").open() as spl:
            spl.write(
                PowerSample(begin_ns - 35 * NS + i * NS // 2, IDLE_W, 230.0, IDLE_W / 230.0, 1.0, "s_idle")
                for i in range(61)
            )
    write_session_json(perf / "session.json", SessionJson(session_id="s", state="closed", phases=phases))


def test_a_run_with_an_idle_phase_splits_and_its_verdicts_do_not_move(tmp_path: Path) -> None:
    with_idle, without = _copy(tmp_path, "idle"), _copy(tmp_path, "plain")
    _with_idle(with_idle, True)
    _with_idle(without, False)
    report = build_report(load_run(with_idle))
    split = report.static_active
    assert split is not None and split.split and split.reason == ""
    assert split.static_power_w == pytest.approx(IDLE_W) and split.idle_samples == 39  # strictly inside 20 s at 2 Hz
    assert split.idle_window_s == pytest.approx(20.0) and split.window_s == report.window_s
    assert split.energy_j == report.energy_j
    assert split.static_energy_j == pytest.approx(IDLE_W * report.window_s)
    assert split.static_energy_j + split.active_energy_j == pytest.approx(report.energy_j, rel=1e-12)
    assert split.active_power_w == pytest.approx(report.avg_power_w - IDLE_W, rel=0.01)
    # the difference's error bar: the testing energy's and T x the static power's, in quadrature
    testing, idle = report.energy_uncertainty, split.static_power_uncertainty
    assert testing is not None and idle is not None and split.active_energy_uncertainty is not None
    expected = math.hypot(testing.expanded, report.window_s * idle.expanded)
    assert split.active_energy_uncertainty.expanded == pytest.approx(expected)
    assert idle.expanded > 0  # the analyzer's accuracy at 5 W: never a bare number
    plain = build_report(load_run(without)).static_active
    assert plain is not None and not plain.split and plain.reason == NO_IDLE_PHASE
    assert build_report(load_run(DATA_DIR / "nvidia-orin-maxq-resnet50-offline")).static_active is None  # published
    # the official verdict and mlpower's own: the idle phase is no part of the result
    a = load_run(with_idle, SPL_FIELDS, hash_files=True, marks=True)
    b = load_run(without, SPL_FIELDS, hash_files=True, marks=True)
    round_ = get_round("v4.1")
    official_a = [(c.check, c.outcome, c.message) for c in official_checks(a, round_)]
    assert official_a == [(c.check, c.outcome, c.message) for c in official_checks(b, round_)]
    findings_a, findings_b = check_run(a), check_run(b)
    assert [(f.rule, f.status) for f in findings_a] == [(f.rule, f.status) for f in findings_b]
    assert verdict(findings_a) == verdict(findings_b)


def test_an_idle_phase_that_cannot_be_used_says_why(tmp_path: Path) -> None:
    perf = _copy(tmp_path, "broken")
    _with_idle(perf, True)
    (perf / "idle" / "spl.txt").unlink()
    split = build_report(load_run(perf)).static_active
    assert split is not None and not split.split and "idle/spl.txt cannot be read" in split.reason


def _source(name: str, node: str, step_s: float, idle_w: float, load_w: float) -> WallSeries:
    """One wall source from 0 to 130 s: ``idle_w`` until 30 s, ``load_w`` from 90 s on (a ramp between)."""
    t = np.arange(0, int(130 / step_s) + 1, dtype=np.int64) * int(step_s * NS)
    power = np.interp(t / NS, [0, 30, 90, 130], [idle_w, idle_w, load_w, load_w])
    return WallSeries(name, node, T0 + t, power, step_s, MeasurementTier.DIRECT)


def test_each_node_is_split_by_its_own_sources_idle_power() -> None:
    sources = (_source("psu-a", "a", 1.0, 100.0, 300.0), _source("psu-b", "b", 0.1, 50.0, 80.0))
    begin, end = T0 + 102 * NS, T0 + 118 * NS  # the testing window, 16 s
    node_budgets, _ = system_energy_budgets(sources, None, begin, end, ClockBound(0, "exact"))
    joined = join_by_time(sources, begin, end, None, None)
    nodes = [n.model_copy(update={"uncertainty": error_bar(node_budgets[n.node])}) for n in joined.nodes]
    system = joined.model_copy(update={"nodes": nodes})
    idle = IdleData(None, (T0 + 2 * NS, T0 + 18 * NS), None, None, SystemWall(sources, None))
    a, b = per_node_split(idle, system, 16.0)
    assert (a.name, b.name) == ("a", "b") and (a.idle_readings, b.idle_readings) == (15, 159)
    for part, idle_w, load_w in ((a, 100.0, 300.0), (b, 50.0, 80.0)):
        assert part.idle_power_w == pytest.approx(idle_w) and part.energy_j == pytest.approx(load_w * 16)
        assert part.static_energy_j == pytest.approx(idle_w * 16)
        assert part.active_energy_j == pytest.approx((load_w - idle_w) * 16)
        assert part.static_energy_j + part.active_energy_j == pytest.approx(part.energy_j, rel=1e-12)
        bar = part.active_energy_uncertainty
        assert bar is not None and part.idle_power_uncertainty is not None
        testing = nodes[0 if part.name == "a" else 1].uncertainty
        assert bar.expanded == pytest.approx(math.hypot(testing.expanded, 16 * part.idle_power_uncertainty.expanded))
    assert per_node_split(idle, None, 16.0) == []  # no system: no nodes
