"""Sensors corrected by a calibration against a wall meter: a calibration file applied to a run's GPUs and components.

``mlpower-agent calibrate`` fits each informative source (the GPUs' sum, a RAPL domain, ...) against the wall:
``wall(t) = offset_w + gain x source(t + lag_s)`` (:mod:`analyzer.calibration`). Applied to a later run, the
corrected series estimates the wall power from the sensors alone, over LoadGen's testing window; the raw readings
stay as they were, and the record says it is corrected, by which file, made when, and how old it was.

The estimate's error bar: the **calibration** component is the largest level error of the corrected source in
the calibration (its Olympic window means against the wall's, in %) as a limit, rectangular; the **reference**
component is the calibrating wall meter's own accuracy (the power rules' 1 % per-sample limit: the calibration
file does not record its ranges); then the sampling, clock and gap components of the corrected series
(:func:`analyzer.uncertainty.series_budget`). The calibration's age is reported, not modelled: a sensor's drift
since then is unknown.
"""

from __future__ import annotations

import math

import numpy as np

from analyzer.calibration import PowerSeries, corrected, sum_series
from analyzer.error_bars import error_bar
from analyzer.errors import CalibrationError
from analyzer.metrics import strictly_inside, trapezoid_energy_j
from analyzer.run import RunData
from analyzer.uncertainty import Budget, ClockBound, Term, series_budget
from powerlog.accuracy import PER_SAMPLE_LIMIT
from powerlog.calibration_record import CalibrationRecord, SourceCalibrationRecord
from powerlog.result_record import CalibratedRecord, CalibratedSourceRecord, CalibrationUseRecord
from powerlog.timestamps import NS_PER_S

__all__ = ["calibrated_figures"]

_SQRT3 = math.sqrt(3.0)


def _valid(t_ns: np.ndarray, power_w: np.ndarray) -> PowerSeries:
    keep = np.isfinite(power_w) & (power_w >= 0)
    return PowerSeries.of(t_ns[keep], power_w[keep])


def _source_series(run: RunData, source: SourceCalibrationRecord) -> PowerSeries | None:
    """The run's readings of a calibrated source, on the director's clock; None when the run has none."""
    if source.kind == "gpu_sum":
        parts = [_valid(g.power_t_ns, g.power_w) for g in run.gpus]
        parts = [p for p in parts if len(p) >= 2]
        if not parts or len(parts) != len(run.gpus):
            return None
        try:
            return sum_series(parts)
        except CalibrationError:
            return None
    series = next((c for c in run.components if c.name == source.name), None)
    if series is None:
        return None
    found = _valid(series.power_t_ns, series.power_w)
    return found if len(found) >= 2 else None


def _figures(
    raw: PowerSeries, source: SourceCalibrationRecord, window: tuple[int, int], clock: ClockBound, simulated: bool
) -> CalibratedSourceRecord:
    fixed = corrected(raw, source)
    inside = strictly_inside(fixed.t_utc_ns, *window)
    record = CalibratedSourceRecord(
        source=source.name, kind=source.kind, corrected=True, gain=source.gain, offset_w=source.offset_w,
        lag_s=source.lag_s, qualifies=source.qualifies, threshold_pct=source.threshold_pct,
        samples_in_window=int(inside.sum()), simulated=simulated or source.simulated,
    )  # fmt: skip
    if not inside.any():
        return record
    mean_w = float(fixed.power_w[inside].mean())
    worst_pct = max((abs(level.error_pct) for level in source.levels), default=abs(source.error_pct))
    calibration = Term(
        "calibration",
        max(worst_pct, source.residual_rms_pct) / 100.0 * mean_w / _SQRT3,
        f"the calibration's largest level error {worst_pct:.2f} % (residual rms {source.residual_rms_pct:.2f} %)",
    )
    budget = series_budget(fixed.t_utc_ns, fixed.power_w, *window, calibration, clock)
    reference = Term("reference", PER_SAMPLE_LIMIT.limit_w(mean_w, None) / _SQRT3, PER_SAMPLE_LIMIT.source)
    budget = Budget(budget.value, budget.unit, (*budget.terms, reference))
    window_s = (window[1] - window[0]) / NS_PER_S
    raw_inside = strictly_inside(raw.t_utc_ns, *window)
    return record.model_copy(
        update={
            "avg_power_w": mean_w,
            "energy_j": trapezoid_energy_j(fixed.t_utc_ns, fixed.power_w, *window) if window_s > 0 else None,
            "raw_avg_power_w": float(raw.power_w[raw_inside].mean()) if raw_inside.any() else None,
            "uncertainty": error_bar(budget),
        }
    )


def calibrated_figures(
    run: RunData, calibration: CalibrationRecord, file: str, clock: ClockBound
) -> CalibratedRecord | None:
    """Each calibrated source the run has readings of, corrected over the testing window; None without a window."""
    window = run.testing.meter_window_utc_ns
    if window is None or window[1] <= window[0]:
        return None
    session = run.mlpower_session
    simulated = session is not None and bool(session.simulated_sources)
    use = CalibrationUseRecord(
        file=file,
        created_utc_ns=calibration.created_utc_ns,
        age_s=calibration.age_s(window[0]),
        session_id=calibration.session_id,
        reference_model=calibration.reference.model,
        reference_simulated=calibration.reference.simulated,
    )
    sources, missing = [], []
    for source in calibration.sources:
        raw = _source_series(run, source)
        if raw is None:
            missing.append(source.name)
        else:
            sources.append(_figures(raw, source, window, clock, simulated))
    return CalibratedRecord(calibration=use, sources=sources, not_applied=missing)
