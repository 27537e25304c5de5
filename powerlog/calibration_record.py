"""``calibration.json``: informative power sources (GPU sums, BMCs, PDUs, RAPL) calibrated against the reference
wall meter, as typed, versioned models.

``mlpower-agent calibrate`` writes it (:func:`write_calibration_json`, atomically); a later session that applies
it reads it with :func:`read_calibration_json` or :func:`parse_calibration_json`. Per source it holds the fit of
:mod:`analyzer.calibration` (gain, offset, lag, residual, per-level errors, whether it qualifies within the
threshold); beside them the reference meter, the levels and their windows (UTC ns, the director's clock), and
when it was made. Fields a reader does not know are ignored; ``format`` names the version,
``mlpower-calibration-1``, and a file of another format is refused with a message saying so. The fields are
listed in docs/calibration.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from powerlog.cli_support import write_json_atomic
from powerlog.errors import FormatError
from powerlog.json_record import FrozenRecord, parse_record, read_json_file

__all__ = [
    "CALIBRATION_FILE",
    "CALIBRATION_FORMAT",
    "SOURCE_KINDS",
    "CalibrationLevelRecord",
    "CalibrationRecord",
    "CalibrationWindowRecord",
    "LevelScoreRecord",
    "ReferenceMeterRecord",
    "SourceCalibrationRecord",
    "parse_calibration_json",
    "read_calibration_json",
    "write_calibration_json",
]

CALIBRATION_FORMAT = "mlpower-calibration-1"
CALIBRATION_FILE = "calibration.json"
# gpu_sum: a node's GPUs added up (the rest of the system is the fitted offset); wall_source: a BMC or PDU the
# director reads beside the reference; rapl, rapl-mmio, hwmon: a component sensor of the SUT
SOURCE_KINDS = ("gpu_sum", "wall_source", "rapl", "rapl-mmio", "hwmon")


class CalibrationWindowRecord(FrozenRecord):
    start_utc_ns: int
    end_utc_ns: int

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationWindowRecord:
        if self.end_utc_ns <= self.start_utc_ns:
            raise ValueError("a window ends after it starts")
        return self


class CalibrationLevelRecord(FrozenRecord):
    """One load level: its name (idle, load1, load2), what ran, and its measurement windows."""

    name: str
    load: str = ""  # "idle", the built-in benchmark's settings, or the user's command
    windows: list[CalibrationWindowRecord] = Field(min_length=1)


class ReferenceMeterRecord(FrozenRecord):
    """The wall meter everything was compared with, as the director described it."""

    url: str = ""  # the director's meter URL
    model: str | None = None  # the analyzer's model (its Identify reply), when the director's analysis gave it
    tier: str | None = None
    interval_ms: int | None = None
    simulated: bool = False


class LevelScoreRecord(FrozenRecord):
    """One level's Olympic scores (best and worst window dropped) and the source's errors against the wall."""

    level: str
    wall_w: float
    source_w: float  # the corrected source: offset_w + gain x source
    raw_w: float  # the source as read
    error_pct: float
    raw_error_pct: float


class SourceCalibrationRecord(FrozenRecord):
    """One source's fit: wall(t) = offset_w + gain x source(t + lag_s) (see :mod:`analyzer.calibration`)."""

    name: str  # e.g. "gpus" (the sum), "wall:bmc1", "rapl.package-0"
    kind: str
    members: list[str] = Field(default_factory=list)  # what a sum adds up (gpu0.power, gpu1.power, ...)
    gain: float
    offset_w: float
    lag_s: float
    residual_rms_pct: float
    residual_max_pct: float
    error_pct: float  # the corrected source's worst level error (signed)
    raw_error_pct: float  # the source as read: its worst level error (signed)
    qualifies: bool  # corrected, every level within threshold_pct
    qualifies_raw: bool  # as read, every level within threshold_pct (the training rules' test of the meter)
    threshold_pct: float
    samples_used: int = Field(ge=0)
    sample_period_s: float
    simulated: bool = False
    levels: list[LevelScoreRecord] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in SOURCE_KINDS:
            raise ValueError(f"kind {kind!r} is none of {', '.join(SOURCE_KINDS)}")
        return kind

    @model_validator(mode="after")
    def _finite(self) -> SourceCalibrationRecord:
        for field in ("gain", "offset_w", "lag_s", "threshold_pct"):
            if not math.isfinite(getattr(self, field)):
                raise ValueError(f"{field} must be a finite number")
        return self


class CalibrationRecord(FrozenRecord):
    format: str = CALIBRATION_FORMAT
    created_utc_ns: int
    mlpower_version: str = ""
    host: str = ""  # the SUT
    session_id: str = ""  # the director's session that measured it
    reference: ReferenceMeterRecord
    window_s: float
    windows_per_level: int
    settle_s: float = 0.0  # waited at each level before its first window
    levels: list[CalibrationLevelRecord] = Field(min_length=1)
    sources: list[SourceCalibrationRecord] = Field(default_factory=list)
    simulated: bool = False  # anything simulated: the reference, a source
    notes: list[str] = Field(default_factory=list)  # sources that could not be fitted, and why

    @field_validator("format")
    @classmethod
    def _our_format(cls, value: str) -> str:
        if value != CALIBRATION_FORMAT:
            raise ValueError(f"format {value!r} is not one this mlpower reads ({CALIBRATION_FORMAT})")
        return value

    def source(self, name: str) -> SourceCalibrationRecord | None:
        return next((s for s in self.sources if s.name == name), None)

    def age_s(self, now_utc_ns: int) -> float:
        """Seconds since the calibration was made, at ``now_utc_ns``."""
        return (now_utc_ns - self.created_utc_ns) / 1e9

    def to_json_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_calibration_json(obj: Any, path: str = CALIBRATION_FILE) -> CalibrationRecord:
    """A calibration from parsed JSON; :class:`~powerlog.errors.FormatError` saying which field is wrong (a file
    of another format first of all)."""
    if isinstance(obj, dict) and "format" not in obj:
        raise FormatError(path, f"no 'format' field: not an mlpower calibration file ({CALIBRATION_FORMAT})")
    return parse_record(CalibrationRecord, obj, path, "a calibration record")


def read_calibration_json(path: Path) -> CalibrationRecord:
    """The calibration file at ``path`` (``mlpower-agent calibrate --out DIR`` writes ``DIR/calibration.json``)."""
    return parse_calibration_json(read_json_file(path), str(path))


def write_calibration_json(path: Path, record: CalibrationRecord) -> None:
    """Atomically: a reader (or a crash) never sees half a calibration."""
    write_json_atomic(path, record.to_json_obj())
