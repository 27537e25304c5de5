"""The uncertainty budget: each component's formula on series whose answer is known by hand, the combination,
the accuracy specifications, the ranges read from PTDaemon's log, and the error bars of published results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analyzer.error_bars import range_of_testing_w
from analyzer.report import build_report
from analyzer.run import load_run
from analyzer.uncertainty import (
    Budget,
    ClockBound,
    Term,
    accuracy_term,
    combine,
    gap_share,
    gaps_standard_w,
    sampling_standard_w,
    series_budget,
)
from powerlog.accuracy import PER_SAMPLE_LIMIT, UNCALIBRATED_SENSOR, analyzer_spec, wall_spec
from powerlog.tiers import MeasurementTier
from tests.support.paths import DATA_DIR

S = 1_000_000_000
SQRT3 = math.sqrt(3)
PUBLISHED = DATA_DIR / "mlperf-results-v4.1-v5.1"


def _seconds(values: list[float]) -> np.ndarray:
    return np.array([round(v * S) for v in values], dtype=np.int64)


def test_a_budget_combines_its_terms_in_quadrature_and_expands_with_k_2() -> None:
    budget = Budget(100.0, "W", (Term("accuracy", 0.3, ""), Term("sampling", 0.4, ""), Term("gaps", 0.0, "")))
    assert budget.standard == pytest.approx(0.5) and budget.expanded == pytest.approx(1.0)
    assert budget.relative_pct == pytest.approx(1.0) and budget.dominant == "sampling"
    assert budget.text() == "100.00 W ± 1.00 W (k=2)"
    per_query = budget.carried(2500.0, "mJ/query")  # P x T x 1000 / queries: the same relative uncertainty
    assert per_query.relative_pct == pytest.approx(1.0) and per_query.expanded == pytest.approx(25.0)
    efficiency = budget.carried(0.5, "samples/s/W")  # performance / P: relative, too
    assert efficiency.expanded == pytest.approx(0.005)


def test_a_sum_adds_each_named_component_in_quadrature() -> None:
    a = Budget(10.0, "J", (Term("accuracy", 3.0, "a"), Term("sampling", 1.0, "s")))
    b = Budget(20.0, "J", (Term("accuracy", 4.0, "a"),))
    total = combine(30.0, "J", [a, b], [Term("interconnect", 12.0, "estimated")])
    terms = {t.name: t.standard for t in total.terms}
    assert terms == {"accuracy": pytest.approx(5.0), "sampling": 1.0, "interconnect": 12.0}
    assert total.standard == pytest.approx(math.sqrt(5.0**2 + 1.0**2 + 12.0**2))


def test_sampling_by_successive_differences() -> None:
    assert sampling_standard_w(np.full(50, 300.0)) == 0.0  # a steady load: nothing to estimate
    by_hand = math.sqrt((1 + 4 + 1) / (2 * 4 * 3))  # differences 1, -2, 1 of four samples
    assert sampling_standard_w(np.array([10.0, 11.0, 9.0, 10.0])) == pytest.approx(by_hand)
    noise = np.random.default_rng(1).normal(200.0, 5.0, 20_000)  # white noise: about s / sqrt(N)
    assert sampling_standard_w(noise) == pytest.approx(5.0 / math.sqrt(20_000), rel=0.03)
    ramp = np.linspace(100.0, 200.0, 101)  # a smooth load: far less than s / sqrt(N)
    assert sampling_standard_w(ramp) < 0.05 * ramp.std() / math.sqrt(101)


def test_gap_share_counts_what_intervals_over_twice_the_median_leave_unsampled() -> None:
    regular = _seconds([0.5 + i for i in range(100)])
    assert gap_share(regular, 0, 100 * S) == 0.0
    holed = np.concatenate([regular[:40], regular[50:]])  # 39.5 -> 50.5: 11 s between samples, 10 beyond one interval
    assert gap_share(holed, 0, 100 * S) == pytest.approx(0.10)
    late = regular[regular > 10 * S]  # the first samples missing: measured from the window's begin
    assert gap_share(late, 0, 100 * S) == pytest.approx((10.5 - 1) / 100)


def test_a_series_budget_on_a_step_at_the_window_edges() -> None:
    """100 W outside, 300 W inside a 100 s window, 1 Hz: the mean is 300 W, shifting the window brings 100 W in at
    one edge and takes 300 W out at the other (S = 200 W); no sampling term, no gaps."""
    t = _seconds([-10.5 + i for i in range(121)])
    power = np.where((t > 0) & (t < 100 * S), 300.0, 100.0)
    clock = ClockBound(S // 2, "test")
    accuracy = Term("accuracy", 1.0, "given")
    budget = series_budget(t, power, 0, 100 * S, accuracy, clock)
    terms = {term.name: term.standard for term in budget.terms}
    assert budget.value == 300.0
    assert terms["sampling"] == 0.0 and terms["gaps"] == 0.0 and terms["accuracy"] == 1.0
    assert terms["clock"] == pytest.approx(0.5 * 200.0 / (SQRT3 * 100.0))


def test_a_gap_costs_its_share_of_the_window_times_the_spread_of_means_as_long_as_it() -> None:
    t = _seconds([0.5 + i for i in range(100) if not 40 <= i < 50])
    power = np.where(t < 20 * S, 100.0, 200.0)  # 100 W for 20 s, then 200 W; 10 s of the window unsampled
    budget = series_budget(t, power, 0, 100 * S, Term("accuracy", 0.0, ""), ClockBound(0, "exact"))
    gaps = next(term for term in budget.terms if term.name == "gaps")
    block_means = [100.0, 100.0] + [200.0] * 7  # 10 s blocks with samples: 0-10, 10-20, then 20-40 and 50-100
    assert gaps.standard == pytest.approx(0.10 * float(np.std(block_means, ddof=1)))
    steady = series_budget(t, np.full(t.shape, 150.0), 0, 100 * S, Term("accuracy", 0.0, ""), ClockBound(0, "exact"))
    assert next(term for term in steady.terms if term.name == "gaps").standard == 0.0  # a steady load: no cost


def test_gaps_of_one_length_and_samples_out_of_order_cost_what_each_gap_costs_alone() -> None:
    """The gap term, computed per distinct gap length in one pass over sorted samples, is what the definition gives
    gap by gap (block means by np.unique, as it was first written)."""

    def by_definition(t_ns: np.ndarray, power_w: np.ndarray, begin_ns: int, end_ns: int, interval_s: float) -> float:
        edges = np.concatenate(([begin_ns], t_ns, [end_ns]))
        missing = np.diff(edges) - int(interval_s * S)
        total = 0.0
        for gap_ns in missing[np.diff(edges) > 2 * interval_s * S]:
            _, index = np.unique((t_ns - begin_ns) // int(gap_ns), return_inverse=True)
            counts = np.bincount(index)
            spread = (
                float((np.bincount(index, weights=power_w) / counts).std(ddof=1))
                if counts.shape[0] >= 3
                else float(power_w.max() - power_w.min()) / SQRT3
            )
            total += float(gap_ns) / (end_ns - begin_ns) * spread
        return total

    rng = np.random.default_rng(7)
    for _ in range(50):
        steps = rng.choice([1, 1, 1, 1, 4, 4, 9], size=int(rng.integers(5, 300)))  # gaps, many of one length
        t = np.cumsum(steps).astype(np.int64) * S // 10
        power = rng.normal(300.0, 25.0, t.shape[0])
        expected = by_definition(t, power, 0, int(t[-1]) + S, 0.1)
        assert gaps_standard_w(t, power, 0, int(t[-1]) + S, 0.1) == pytest.approx(expected, rel=1e-12)
        shuffled = rng.permutation(t.shape[0])  # the same samples listed out of order
        assert gaps_standard_w(t[shuffled], power[shuffled], 0, int(t[-1]) + S, 0.1) == pytest.approx(
            expected, rel=1e-12
        )


def test_analyzer_accuracy_from_the_specification() -> None:
    wt310e = analyzer_spec("YokogawaWT310E")
    assert wt310e is not None and (wt310e.reading_fraction, wt310e.range_fraction) == (0.001, 0.0005)
    wt333 = analyzer_spec("YokogawaWT333_multichannel")
    assert wt333 is not None and (wt333.reading_fraction, wt333.range_fraction) == (0.001, 0.001)
    term = accuracy_term(wt310e, [500.0], 1500.0)
    assert term.standard == pytest.approx((0.5 + 0.75) / SQRT3)
    three = accuracy_term(wt310e, [500.0, 500.0, 500.0], 1500.0)  # independent elements: in quadrature
    assert three.standard == pytest.approx(term.standard * SQRT3) and "3 channels" in three.note
    assert wall_spec("YokogawaWT310E", MeasurementTier.PTDAEMON, ranges_known=False) is PER_SAMPLE_LIMIT
    assert wall_spec("YokogawaWT310E", MeasurementTier.PTDAEMON, ranges_known=True) is wt310e
    assert wall_spec(None, MeasurementTier.BMC, ranges_known=False) is UNCALIBRATED_SENSOR
    assert wall_spec("UnknownMeter", MeasurementTier.DIRECT, ranges_known=True) is PER_SAMPLE_LIMIT


@pytest.mark.parametrize(
    "line",
    [json.loads(line) for line in (PUBLISHED / "expected.jsonl").read_text().splitlines()],
    ids=lambda e: e["folder"],
)
def test_every_published_figure_carries_an_error_bar(line: dict) -> None:
    run = load_run(PUBLISHED / line["round"] / line["repository_path"] / "performance")
    report = build_report(run, line["round"])
    metric, efficiency = report.power_metric, report.efficiency
    assert metric is not None and metric.uncertainty is not None and report.avg_power_uncertainty is not None
    bar = metric.uncertainty
    assert bar.k == 2.0 and bar.unit == metric.unit and {t.name for t in bar.terms} >= {"accuracy", "sampling", "clock"}
    assert 0.05 < bar.relative_pct < 2.0  # an analyzer's tenths of a percent, never nothing or a vacuous bar
    assert bar.relative_pct == pytest.approx(report.avg_power_uncertainty.relative_pct)
    if efficiency is not None:
        assert efficiency.uncertainty is not None
        assert efficiency.uncertainty.relative_pct == pytest.approx(bar.relative_pct)
    assert report.energy_uncertainty is not None and report.energy_uncertainty.unit == "J"
    range_w = range_of_testing_w(run)
    accuracy = next(t for t in bar.terms if t.name == "accuracy")
    assert (range_w is not None) == ("rng" in accuracy.note), accuracy.note


def test_ranges_read_from_both_ptdaemon_log_styles() -> None:
    old = PUBLISHED / "v4.1/closed/NVIDIA/results/H200-SXM-141GBx8_TRT_MaxQ/resnet50/Offline/performance"
    assert range_of_testing_w(load_run(old)) == 300.0 * 10.0  # "Volt range set to 300V", "Amp range set to 10A"
    new = PUBLISHED / "v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/llama2-70b-99/Offline/performance"
    assert range_of_testing_w(load_run(new)) == 300.0 * 40.0  # per channel: "Voltage range for channel 1, ..."


def test_a_small_bench_the_bars_cover_the_truth_and_are_not_vacuous() -> None:
    """benchmarks/bench_uncertainty.py with 150 simulated sessions a tier (fixed seeds): the truth inside the k=2
    interval in at least 95 % of them, and the mean half-width at most 3 x the RMS error, for every tier."""
    from benchmarks.bench_uncertainty import COVERAGE_GOAL, TIGHTNESS_GOAL, summarise
    from benchmarks.uncertainty_trials import TIERS, run_trial

    for index, tier in enumerate(TIERS):
        figures = summarise([run_trial(tier, index * 1_000_003 + i) for i in range(150)])
        assert figures["coverage"] >= COVERAGE_GOAL, (tier, figures)
        assert figures["tightness"] <= TIGHTNESS_GOAL, (tier, figures)
