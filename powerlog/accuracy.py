"""The accuracy each kind of power reading claims: the analyzers' specifications and the stated defaults for sensors.

An :class:`AccuracySpec` is a limit of error, ``reading_fraction x |reading| + range_fraction x range + offset_w``,
with the document it comes from. The uncertainty budget (:mod:`analyzer.uncertainty`) treats a limit as the
half-width of a rectangular distribution (standard uncertainty = limit / sqrt(3), GUM 4.3.7), the same for every
sample of one instrument (an analyzer's gain error does not average out over a window).

Where the files do not say which analyzer ranges were set, a PTDaemon run that passes the power rules still
bounds every testing sample's uncertainty by 1 % of its reading (PTDaemon's own check, rule 10): that bound is
used, loose but sourced. Informative sensors without a specification get a stated default; a calibration
against the wall meter (``mlpower-agent calibrate``) replaces it with its measured residual.
"""

from __future__ import annotations

from dataclasses import dataclass

from powerlog.tiers import MeasurementTier

__all__ = [
    "NVML_POWER_LIMIT_W",
    "PER_SAMPLE_LIMIT",
    "UNCALIBRATED_SENSOR",
    "AccuracySpec",
    "analyzer_spec",
    "wall_spec",
]


@dataclass(frozen=True)
class AccuracySpec:
    """A limit of error: ``reading_fraction x |reading| + range_fraction x range_w + offset_w`` (all >= 0)."""

    reading_fraction: float
    range_fraction: float
    source: str
    offset_w: float = 0.0
    needs_range: bool = False  # a range term that cannot be evaluated without the range

    def limit_w(self, power_w: float, range_w: float | None) -> float:
        """The error limit of a reading of ``power_w`` on a range of ``range_w`` watts (V range x A range)."""
        range_term = self.range_fraction * range_w if range_w is not None else 0.0
        return self.reading_fraction * abs(power_w) + range_term + self.offset_w


_WT300E = AccuracySpec(
    0.001, 0.0005, "Yokogawa IM WT310E-02EN 7.3.2, 45-66 Hz: 0.1 % rdg + 0.05 % rng", needs_range=True
)
_WT300 = AccuracySpec(0.001, 0.001, "Yokogawa IM WT310-02EN 7.3.2, 45-66 Hz: 0.1 % rdg + 0.1 % rng", needs_range=True)
_WT500 = AccuracySpec(0.001, 0.001, "Yokogawa IM 760201-01E ch. 14, 45-66 Hz: 0.1 % rdg + 0.1 % rng", needs_range=True)
_WT210 = AccuracySpec(0.001, 0.001, "Yokogawa WT210 user's manual, 45-66 Hz: 0.1 % rdg + 0.1 % rng", needs_range=True)
# Yokogawa active power accuracy at 45-66 Hz, power factor 1; a name is matched as a part of the model's, in order
_YOKOGAWA: tuple[tuple[str, AccuracySpec], ...] = (
    ("WT310E", _WT300E),
    ("WT330E", _WT300E),
    ("WT332E", _WT300E),
    ("WT333E", _WT300E),
    ("WT310", _WT300),
    ("WT33", _WT300),
    ("WT500", _WT500),
    ("WT210", _WT210),
)

PER_SAMPLE_LIMIT = AccuracySpec(
    0.01, 0.0, "the power rules' 1 % per-sample uncertainty limit (PTDaemon's check; the analyzer ranges are unknown)"
)
UNCALIBRATED_SENSOR = AccuracySpec(
    0.05,
    0.0,
    "stated default for an uncalibrated sensor: the MLPerf training power rules' 5 % accuracy target for a meter "
    "that is not SPEC- or revenue-grade (assumed, not measured: run mlpower-agent calibrate)",
)
NVML_POWER_LIMIT_W = 5.0
"""nvidia-smi's documentation: the board power draw "is accurate to within +/- 5 watts"."""


def analyzer_spec(model: str | None) -> AccuracySpec | None:
    """The specification of the analyzer whose name contains a known model (``YokogawaWT333E``, ``SimulatedWT310``)."""
    if not model:
        return None
    upper = model.upper()
    return next((spec for name, spec in _YOKOGAWA if name in upper), None)


def wall_spec(model: str | None, tier: MeasurementTier | None, ranges_known: bool) -> AccuracySpec:
    """The accuracy of a wall reading: the analyzer's specification when its model and ranges are known, the 1 %
    per-sample limit for an analyzer without them, and the uncalibrated default for a BMC or PDU."""
    if tier is MeasurementTier.BMC:
        return UNCALIBRATED_SENSOR
    spec = analyzer_spec(model)
    if spec is None or (spec.needs_range and not ranges_known):
        return PER_SAMPLE_LIMIT
    return spec
