"""A calibration applied to a later run: the GPUs' readings corrected into a wall estimate over the testing window,
labelled corrected beside the raw readings, with the file, its age and an error bar; read from the folder's
power/calibration.json or given with --calibration; a bad file refused with the reason."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analyzer.calibrated import calibrated_figures
from analyzer.cli import main
from analyzer.errors import UnreadableRunError
from analyzer.gpu import GpuSeries
from analyzer.render import render_report
from analyzer.report import build_report
from analyzer.result import open_result
from analyzer.run import RunData, load_run
from analyzer.uncertainty import ClockBound
from powerlog.calibration_record import CalibrationRecord, write_calibration_json
from tests.support.calibration_files import gpu_sum_calibration
from tests.support.paths import DATA_DIR

RESULT = DATA_DIR / "dell-xe8545-a100x4-maxq-resnet50-offline" / "performance"
GAIN, OFFSET_W, LAG_S = 1.25, 200.0, 0.3
DAY_NS = 86_400 * 1_000_000_000


def _calibration(created_utc_ns: int) -> CalibrationRecord:
    return gpu_sum_calibration(GAIN, OFFSET_W, LAG_S, created_utc_ns)


def _with_gpus(run: RunData) -> RunData:
    """Two GPUs that read the wall as the calibration says: wall = 200 W + 1.25 x (GPU sum read 0.3 s later)."""
    spl = run.testing.spl
    assert spl is not None
    t_ns = spl.t_utc_ns + round(LAG_S * 1e9)
    each_w = (spl.power_w - OFFSET_W) / GAIN / 2
    empty_t, empty_j = np.zeros(0, dtype=np.int64), np.zeros(0)
    gpus = tuple(GpuSeries(i, t_ns, each_w.copy(), empty_t, empty_j) for i in range(2))
    return replace(run, gpus=gpus)


def test_the_gpus_corrected_by_their_calibration_estimate_the_wall() -> None:
    run = _with_gpus(load_run(RESULT))
    window = run.testing.meter_window_utc_ns
    assert window is not None
    record = calibrated_figures(run, _calibration(window[0] - 3 * DAY_NS), "cal.json", ClockBound(10**6, "test"))
    assert record is not None and record.not_applied == []
    use = record.calibration
    assert use.file == "cal.json" and use.age_s == pytest.approx(3 * 86_400) and use.reference_model == "YokogawaWT500"
    (gpus,) = record.sources
    wall_w = build_report(run).avg_power_w
    assert gpus.corrected and gpus.avg_power_w is not None and gpus.raw_avg_power_w is not None and wall_w is not None
    assert gpus.avg_power_w == pytest.approx(wall_w, rel=1e-3)  # the same samples, back on the wall's scale
    assert gpus.raw_avg_power_w == pytest.approx((wall_w - OFFSET_W) / GAIN, rel=1e-3)
    bar = gpus.uncertainty
    assert bar is not None and {"calibration", "reference", "sampling", "clock", "gaps"} <= {t.name for t in bar.terms}
    calibration = next(t for t in bar.terms if t.name == "calibration")
    assert calibration.standard == pytest.approx(0.01 * gpus.avg_power_w / np.sqrt(3), rel=1e-6)
    assert abs(gpus.avg_power_w - wall_w) <= bar.expanded


def test_a_run_without_the_calibrated_sources_says_what_was_not_applied() -> None:
    run = load_run(RESULT)  # no GPUs
    record = calibrated_figures(run, _calibration(0), "cal.json", ClockBound(0, "test"))
    assert record is not None and record.sources == [] and record.not_applied == ["gpus"]


def test_the_folders_own_calibration_is_applied_and_shown(tmp_path: Path) -> None:
    folder = tmp_path / "performance"
    shutil.copytree(RESULT, folder)
    write_calibration_json(folder / "power" / "calibration.json", _calibration(0))
    run = _with_gpus(load_run(folder))
    report = build_report(run)
    assert report.calibrated is not None and report.calibrated.calibration.file == "power/calibration.json"
    text = render_report(report)
    assert "Calibration" in text and "CORRECTED" in text and "qualifies within 5 %" in text


def test_a_calibration_given_on_the_command_line_and_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "calibration.json"
    write_calibration_json(good, _calibration(0))
    assert main(["report", "--json", "--calibration", str(good), str(RESULT)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"]["calibration"]["file"] == str(good) and report["calibrated"]["not_applied"] == ["gpus"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "mlpower-calibration-9"}))
    with pytest.raises(UnreadableRunError, match="mlpower-calibration-1"):
        open_result(RESULT, calibration=bad)
    assert main(["report", "--calibration", str(bad), str(RESULT)]) == 2
    assert "calibration file" in capsys.readouterr().err
