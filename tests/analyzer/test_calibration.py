"""The calibration estimator (analyzer.calibration): a known gain, offset and lag recovered exactly from noiseless
samples and within tolerance from noisy ones, Olympic scoring dropping the best and the worst window, the fit
applied back onto a source, and bad input refused with a message that says what was wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyzer.calibration import (
    Level,
    PowerSeries,
    Window,
    corrected,
    fit_source,
    olympic_mean,
    sum_series,
)
from analyzer.errors import AnalyzerError, CalibrationError
from director.sim.signal import UtcProfileSignal

T0_NS = 1_765_000_000 * 10**9  # an instant in 2025, on a whole second
NS = 10**9
WALL = UtcProfileSignal(200.0, 200.0, knot_s=2.0, seed=3)  # the SIMULATED load: 200 W to 400 W
GAIN, OFFSET_W = 1.25, 100.0


def _levels(start_s: float = 2.0, window_s: float = 5.0, windows: int = 5, gap_s: float = 8.0) -> list[Level]:
    """idle, load1, load2: ``windows`` back-to-back windows each, ``gap_s`` between levels."""
    levels = []
    t = start_s
    for name in ("idle", "load1", "load2"):
        spans = []
        for _ in range(windows):
            spans.append(Window(T0_NS + round(t * NS), T0_NS + round((t + window_s) * NS)))
            t += window_s
        levels.append(Level(name, tuple(spans)))
        t += gap_s
    return levels


def _wall(times_s: np.ndarray, noise: float = 0.0, seed: int = 0) -> PowerSeries:
    t = T0_NS + np.round(times_s * NS).astype(np.int64)
    w = np.array([WALL.power_w(int(x)) for x in t])
    return PowerSeries.of(t, w * (1 + noise * np.random.default_rng(seed).standard_normal(len(t))))


def _source(times_s: np.ndarray, lag_s: float, noise: float = 0.0, seed: int = 1) -> PowerSeries:
    """What a source with GAIN, OFFSET_W and ``lag_s`` reads: (wall(t - lag) - offset) / gain."""
    t = T0_NS + np.round(times_s * NS).astype(np.int64)
    p = np.array([(WALL.power_w(int(x) - round(lag_s * NS)) - OFFSET_W) / GAIN for x in t])
    return PowerSeries.of(t, p * (1 + noise * np.random.default_rng(seed).standard_normal(len(t))))


SPAN_S = 2.0 + 3 * 25.0 + 2 * 8.0  # the end of _levels()' last window


@pytest.mark.parametrize("wall_period_s", [1.0, 0.1])
def test_noiseless_samples_give_the_gain_offset_and_lag_exactly(wall_period_s: float) -> None:
    wall = _wall(np.arange(0.0, SPAN_S + 10, wall_period_s))  # a 1 Hz or a 10 Hz analyzer
    source = _source(np.arange(-10.0, SPAN_S + 20, 0.1), lag_s=0.3)  # a 10 Hz sensor, 0.3 s late
    fit = fit_source(wall, source, _levels(), name="gpus")
    assert fit.lag_s == pytest.approx(0.3, abs=1e-6)
    assert fit.gain == pytest.approx(GAIN, rel=1e-9) and fit.offset_w == pytest.approx(OFFSET_W, abs=1e-6)
    assert fit.residual_rms_pct < 1e-6 and fit.residual_max_pct < 1e-6
    assert fit.sample_period_s == pytest.approx(0.1) and fit.samples_used == round(75 / wall_period_s) + 3
    assert [s.level for s in fit.levels] == ["idle", "load1", "load2"]
    assert fit.qualifies and not fit.qualifies_raw
    if wall_period_s == 0.1:  # the same instants on both sides: the window means agree exactly
        assert abs(fit.error_pct) < 1e-6
        for score in fit.levels:
            assert score.raw_w == pytest.approx((score.wall_w - OFFSET_W) / GAIN, rel=1e-9)


def test_a_lag_between_grid_points_is_refined() -> None:
    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    source = _source(np.arange(-10.0, SPAN_S + 20, 0.1), lag_s=0.33)  # the grid's step is 0.05 s
    fit = fit_source(wall, source, _levels())
    assert fit.lag_s == pytest.approx(0.33, abs=0.005) and fit.gain == pytest.approx(GAIN, rel=1e-3)


def test_a_source_that_stops_with_the_last_window_still_gives_its_lag() -> None:
    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    source = _source(np.arange(-10.0, SPAN_S + 0.35, 0.1), lag_s=0.3)  # the agent stopped sampling at once
    fit = fit_source(wall, source, _levels(), max_lag_s=5.0)
    assert fit.lag_s == pytest.approx(0.3, abs=1e-6) and fit.gain == pytest.approx(GAIN, rel=1e-9)


@pytest.mark.parametrize("lag_s", [-0.7, 0.0, 1.45])
def test_noisy_samples_give_them_within_tolerance(lag_s: float) -> None:
    rng = np.random.default_rng(5)
    wall = _wall(np.sort(rng.uniform(0.0, SPAN_S + 5, 1000)), noise=0.01)  # irregular, ~10 Hz, 1 % noise
    source = _source(np.arange(-5.0, SPAN_S + 10, 0.1) + 0.037, lag_s=lag_s, noise=0.01)
    fit = fit_source(wall, source, _levels(), name="gpus")
    assert fit.gain == pytest.approx(GAIN, rel=0.01), fit
    assert abs(fit.lag_s - lag_s) <= fit.sample_period_s / 2, fit
    assert fit.offset_w == pytest.approx(OFFSET_W, abs=5.0), fit
    assert 0.5 < fit.residual_rms_pct < 3.0 and fit.qualifies


def test_olympic_scoring_drops_the_highest_and_the_lowest() -> None:
    assert olympic_mean([5.0, 1.0, 3.0, 100.0, 4.0]) == pytest.approx(4.0)
    assert olympic_mean([2.0, 2.0, 2.0]) == 2.0
    with pytest.raises(CalibrationError, match="at least 3"):
        olympic_mean([1.0, 2.0])


def _level_wall(levels: list[Level], period_s: float = 1.0) -> PowerSeries:
    """A SIMULATED wall flat at 200, 300 and 400 W over the levels' windows, ramping in between."""
    heights = zip(levels, (200, 300, 400), strict=True)
    edges = [(lv.windows[0].start_utc_ns, lv.windows[-1].end_utc_ns, w) for lv, w in heights]
    knots_t = [T0_NS - 100 * NS] + [t for a, b, _ in edges for t in (a - NS, b + NS)] + [T0_NS + 1000 * NS]
    knots_w = [200.0] + [float(w) for _, _, w in edges for _ in range(2)] + [400.0]
    t = T0_NS + np.round(np.arange(0.0, SPAN_S + 10, period_s) * NS).astype(np.int64)
    return PowerSeries(t, np.interp(t.astype(np.float64), np.array(knots_t, np.float64), knots_w))


def _meter_beside(wall: PowerSeries, levels: list[Level], bad_windows: int) -> PowerSeries:
    """A BMC that reads the wall exactly, except 20 % high in ``bad_windows`` windows of load1."""
    power = wall.power_w.copy()
    for w in levels[1].windows[:bad_windows]:
        power[(wall.t_utc_ns >= w.start_utc_ns) & (wall.t_utc_ns <= w.end_utc_ns)] *= 1.2
    return PowerSeries(wall.t_utc_ns.copy(), power)


def test_one_bad_window_per_level_is_dropped_two_are_not() -> None:
    levels = _levels()
    wall = _level_wall(levels)
    once = fit_source(wall, _meter_beside(wall, levels, 1), levels, name="bmc")
    assert once.qualifies_raw and abs(once.levels[1].raw_error_pct) < 1e-9  # the window 20 % high went
    twice = fit_source(wall, _meter_beside(wall, levels, 2), levels, name="bmc")
    assert not twice.qualifies_raw and twice.levels[1].raw_error_pct > 5.0  # one of the two stays
    assert twice.levels[0].raw_error_pct == pytest.approx(0.0, abs=1e-9)


def test_the_threshold_decides_what_qualifies() -> None:
    levels = _levels()
    wall = _level_wall(levels)
    bmc = PowerSeries(wall.t_utc_ns, wall.power_w * 1.03)  # reads 3 % high
    assert fit_source(wall, bmc, levels).qualifies_raw
    assert not fit_source(wall, bmc, levels, threshold_pct=2.0).qualifies_raw
    assert fit_source(wall, bmc, levels, threshold_pct=2.0).qualifies  # the gain corrects it


def test_a_fit_applied_gives_the_wall_back() -> None:
    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    times_s = np.arange(-10.0, SPAN_S + 20, 0.1)
    source = _source(times_s, lag_s=0.3)
    fit = fit_source(wall, source, _levels())
    out = corrected(source, fit)
    assert np.array_equal(out.t_utc_ns, source.t_utc_ns - round(fit.lag_s * NS))
    truth = np.array([WALL.power_w(int(t)) for t in out.t_utc_ns])
    assert np.max(np.abs(out.power_w - truth)) < 1e-3
    assert np.array_equal(source.power_w, _source(times_s, lag_s=0.3).power_w)  # the raw series is untouched


def test_sources_add_up_at_the_instants_of_the_densest() -> None:
    a = PowerSeries.of([0, 10, 20, 30, 40], [1.0, 1.0, 3.0, 3.0, 3.0])
    b = PowerSeries.of([5, 25, 45], [10.0, 20.0, 30.0])
    total = sum_series([a, b])
    assert total.t_utc_ns.tolist() == [10, 20, 30, 40]
    assert total.power_w.tolist() == pytest.approx([1 + 12.5, 3 + 17.5, 3 + 22.5, 3 + 27.5])
    with pytest.raises(CalibrationError, match="no span"):
        sum_series([PowerSeries.of([0, 1], [1.0, 1.0]), PowerSeries.of([5, 6], [1.0, 1.0])])


def test_bad_input_is_refused_with_what_was_wrong() -> None:
    levels = _levels()
    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    source = _source(np.arange(-10.0, SPAN_S + 20, 0.1), lag_s=0.3)
    cases: list[tuple[object, str]] = [
        (lambda: fit_source(_wall(np.arange(0.0, 5.0, 1.0)), source, levels), "the wall meter: 5 sample"),
        (lambda: fit_source(wall, source, [*levels[:2], Level("load2", ())]), "level 'load2' has 0 window"),
        (lambda: fit_source(wall, source, [*levels[:2], Level("load2", levels[2].windows[:2])]), "at least 3"),
        (lambda: fit_source(wall, source, []), "no load levels"),
        (lambda: fit_source(wall, source, [levels[0], Level("again", levels[0].windows)]), "windows overlap"),
        (lambda: fit_source(wall, PowerSeries(source.t_utc_ns, np.full(len(source), 80.0)), levels),
         "do not change"),
        (lambda: fit_source(wall, _source(np.arange(200.0, 260.0, 0.1), 0.3), levels), "do not meet the windows"),
        (lambda: fit_source(wall, PowerSeries(source.t_utc_ns, np.where(np.arange(len(source)) == 7, math.nan,
                                                                         source.power_w)), levels, name="gpus"),
         "gpus: sample 7 is not a number"),
        (lambda: fit_source(wall, source, levels, threshold_pct=0.0), "positive percentage"),
        (lambda: PowerSeries.of([1, 2, 3], [1.0, 2.0]), "as many times as watts"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(CalibrationError, match=message) as caught:
            call()  # type: ignore[operator]
        assert isinstance(caught.value, AnalyzerError) and isinstance(caught.value, ValueError)


def test_a_level_window_without_samples_is_named() -> None:
    levels = _levels()
    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    source = _source(np.arange(-10.0, SPAN_S + 20, 0.1), lag_s=0.3)
    first = levels[0].windows[0]
    hole = (wall.t_utc_ns < first.start_utc_ns) | (wall.t_utc_ns > first.end_utc_ns)
    with pytest.raises(CalibrationError, match="level 'idle', window 0: no sample of the wall meter"):
        fit_source(PowerSeries(wall.t_utc_ns[hole], wall.power_w[hole]), source, levels)


def test_a_calibration_file_s_source_applies_as_a_fit_does() -> None:
    from powerlog.calibration_record import SourceCalibrationRecord

    wall = _wall(np.arange(0.0, SPAN_S + 10, 1.0))
    source = _source(np.arange(-10.0, SPAN_S + 20, 0.1), lag_s=0.3)
    fit = fit_source(wall, source, _levels(), name="gpus")
    record = SourceCalibrationRecord(
        name=fit.name, kind="gpu_sum", gain=fit.gain, offset_w=fit.offset_w, lag_s=fit.lag_s,
        residual_rms_pct=fit.residual_rms_pct, residual_max_pct=fit.residual_max_pct, error_pct=fit.error_pct,
        raw_error_pct=fit.raw_error_pct, qualifies=fit.qualifies, qualifies_raw=fit.qualifies_raw,
        threshold_pct=fit.threshold_pct, samples_used=fit.samples_used, sample_period_s=fit.sample_period_s,
    )  # fmt: skip
    by_record, by_fit = corrected(source, record), corrected(source, fit)
    assert np.array_equal(by_record.t_utc_ns, by_fit.t_utc_ns) and np.array_equal(by_record.power_w, by_fit.power_w)
