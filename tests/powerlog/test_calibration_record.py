"""calibration.json's typed model (powerlog.calibration_record): written atomically and read back the same, its
age, and every way a file can be wrong refused with the file and the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from powerlog.calibration_record import (
    CALIBRATION_FORMAT,
    CalibrationLevelRecord,
    CalibrationRecord,
    CalibrationWindowRecord,
    LevelScoreRecord,
    ReferenceMeterRecord,
    SourceCalibrationRecord,
    parse_calibration_json,
    read_calibration_json,
    write_calibration_json,
)
from powerlog.errors import FormatError

T0 = 1_765_000_000 * 10**9


def _record() -> CalibrationRecord:
    levels = [
        CalibrationLevelRecord(
            name=name,
            load="idle" if k == 0 else "built-in benchmark",
            windows=[CalibrationWindowRecord(start_utc_ns=T0 + (5 * k + i) * 60 * 10**9,
                                             end_utc_ns=T0 + (5 * k + i + 1) * 60 * 10**9) for i in range(5)],
        )
        for k, name in enumerate(("idle", "load1", "load2"))
    ]  # fmt: skip
    gpus = SourceCalibrationRecord(
        name="gpus", kind="gpu_sum", members=["gpu0.power", "gpu1.power"], gain=1.25, offset_w=100.0, lag_s=0.3,
        residual_rms_pct=0.5, residual_max_pct=1.2, error_pct=-0.4, raw_error_pct=-50.0, qualifies=True,
        qualifies_raw=False, threshold_pct=5.0, samples_used=900, sample_period_s=0.1, simulated=True,
        levels=[LevelScoreRecord(level="idle", wall_w=250.0, source_w=249.0, raw_w=120.0, error_pct=-0.4,
                                 raw_error_pct=-52.0)],
    )  # fmt: skip
    return CalibrationRecord(
        created_utc_ns=T0 + 16 * 60 * 10**9,
        mlpower_version="0.0.0",
        host="sut",
        session_id="s1",
        reference=ReferenceMeterRecord(url="ptd://10.0.0.2:8888", model="WT310E", tier="analyzer", interval_ms=1000),
        window_s=60.0,
        windows_per_level=5,
        settle_s=10.0,
        levels=levels,
        sources=[gpus],
        simulated=True,
    )


def test_a_record_is_written_and_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    record = _record()
    write_calibration_json(path, record)
    assert json.loads(path.read_text())["format"] == CALIBRATION_FORMAT == "mlpower-calibration-1"
    again = read_calibration_json(path)
    assert again == record and again.source("gpus") == record.sources[0] and again.source("bmc") is None
    assert again.age_s(record.created_utc_ns + 3600 * 10**9) == pytest.approx(3600.0)
    newer = {**record.to_json_obj(), "a_later_field": 1}  # a newer writer's extra field is ignored
    assert parse_calibration_json(newer) == record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(format="mlpower-calibration-9"), "format 'mlpower-calibration-9' is not one this"),
        (lambda o: o.pop("format"), "no 'format' field: not an mlpower calibration file"),
        (lambda o: o["sources"][0].update(kind="thermometer"), "sources.0.kind: .*'thermometer' is none of"),
        (lambda o: o["sources"][0].pop("gain"), "sources.0.gain: Field required"),
        (lambda o: o["levels"][1]["windows"][0].update(end_utc_ns=0), "levels.1.windows.0: .*ends after it starts"),
        (lambda o: o.update(levels=[]), "levels: "),
    ],
)
def test_a_wrong_file_is_refused_with_the_field(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    obj = _record().to_json_obj()
    change(obj)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(FormatError, match=message) as caught:
        read_calibration_json(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_no_json_or_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        read_calibration_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="not readable JSON"):
        read_calibration_json(tmp_path / "bad.json")
    with pytest.raises(FormatError, match="a calibration record is a JSON object"):
        parse_calibration_json([1, 2])
