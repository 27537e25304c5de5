"""A calibration.json as ``mlpower-agent calibrate`` writes one, for tests that apply a calibration to a run."""

from __future__ import annotations

from powerlog.calibration_record import (
    CalibrationLevelRecord,
    CalibrationRecord,
    CalibrationWindowRecord,
    ReferenceMeterRecord,
    SourceCalibrationRecord,
)


def gpu_sum_calibration(
    gain: float, offset_w: float, lag_s: float, created_utc_ns: int, level_error_pct: float = 1.0
) -> CalibrationRecord:
    """A calibration of the GPUs' sum against a WT500: ``wall = offset_w + gain x gpus(t + lag_s)``, qualified."""
    window = CalibrationWindowRecord(start_utc_ns=1, end_utc_ns=2)
    fit = SourceCalibrationRecord(
        name="gpus", kind="gpu_sum", members=["gpu0.power", "gpu1.power"], gain=gain, offset_w=offset_w,
        lag_s=lag_s, residual_rms_pct=0.5, residual_max_pct=2.0, error_pct=level_error_pct, raw_error_pct=-60.0,
        qualifies=True, qualifies_raw=False, threshold_pct=5.0, samples_used=1000, sample_period_s=0.1,
    )  # fmt: skip
    return CalibrationRecord(
        created_utc_ns=created_utc_ns, session_id="2026-12-01_calibration", window_s=60.0, windows_per_level=5,
        reference=ReferenceMeterRecord(url="ptd://analyzer", model="YokogawaWT500"),
        levels=[CalibrationLevelRecord(name=n, windows=[window]) for n in ("idle", "load1", "load2")], sources=[fit],
    )  # fmt: skip
