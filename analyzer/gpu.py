"""GPU energy per LoadGen window, from the readings the agent streamed: pure functions.

The energy counter (``nvmlDeviceGetTotalEnergyConsumption``) is read at each phase
boundary and with every batch; the window's energy is the counter interpolated to
the window's edges, a difference of two readings rather than an estimate. The
instant-power samples are integrated too, and the two are compared: the instant
field on recent data-centre GPUs averages only about 25 ms of every 100 ms, so
sparse samples can miss bursts the counter sees.

The same figures serve every series of power readings with an energy counter: :func:`readings_window`
takes any :class:`Readings` (a GPU's, a component's: :mod:`analyzer.components`), :func:`gpu_window`
names the result for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzer.metrics import strictly_inside, trapezoid_energy_j
from powerlog.timestamps import NS_PER_S

__all__ = [
    "COVERAGE_PERIOD_S",
    "DISAGREEMENT_WARN_PCT",
    "MIN_WINDOW_S",
    "GpuSeries",
    "GpuWindow",
    "Readings",
    "ReadingsWindow",
    "gpu_window",
    "readings_window",
]

DISAGREEMENT_WARN_PCT = 5.0
MIN_WINDOW_S = 1.0
COVERAGE_PERIOD_S = 0.2  # fewer distinct instant readings than one per 200 ms (half the default rate) is too few


class Readings(Protocol):
    """Power readings and energy-counter readings of one source, on the meter's (director's) clock."""

    @property
    def power_t_ns(self) -> npt.NDArray[np.int64]: ...
    @property
    def power_w(self) -> npt.NDArray[np.float64]: ...
    @property
    def energy_t_ns(self) -> npt.NDArray[np.int64]: ...
    @property
    def energy_j(self) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class GpuSeries:
    """One GPU's readings on the meter's (director's) clock."""

    gpu_index: int
    power_t_ns: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.float64]
    energy_t_ns: npt.NDArray[np.int64]
    energy_j: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReadingsWindow:
    """One source's figures in a window."""

    counter_energy_j: float | None
    integrated_energy_j: float | None
    energy_j: float | None  # the counter's where it has one, else the integrated power's
    mean_power_w: float | None
    power_readings: int
    median_update_ms: float | None
    disagreement_pct: float | None  # integrated vs counter
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class GpuWindow(ReadingsWindow):
    gpu_index: int


def gpu_window(series: GpuSeries, begin_utc_ns: int, end_utc_ns: int) -> GpuWindow:
    w = readings_window(series, begin_utc_ns, end_utc_ns)
    return GpuWindow(**{f.name: getattr(w, f.name) for f in fields(w)}, gpu_index=series.gpu_index)


def readings_window(
    series: Readings, begin_utc_ns: int, end_utc_ns: int, what: str = "GPU", power: str = "instant-power"
) -> ReadingsWindow:
    """A source's energy and power in ``[begin, end]`` (meter clock), with warnings naming it ``what`` and
    its readings ``power`` readings."""
    window_s = (end_utc_ns - begin_utc_ns) / NS_PER_S
    warnings: list[str] = []
    if window_s < MIN_WINDOW_S:
        warnings.append(f"window of {window_s:.3f} s is shorter than {MIN_WINDOW_S:g} s: {what} figures are rough")
    counter = None
    et, ej = series.energy_t_ns, series.energy_j
    if len(et):
        if et.min() <= begin_utc_ns and et.max() >= end_utc_ns:
            order = np.argsort(et, kind="stable")
            edges = np.interp([begin_utc_ns, end_utc_ns], et[order], ej[order])
            counter = float(edges[1] - edges[0])
        else:
            warnings.append("the energy counter was not read before and after the window")
    inside = strictly_inside(series.power_t_ns, begin_utc_ns, end_utc_ns)
    readings = int(inside.sum())
    integrated = None
    if readings:
        integrated = trapezoid_energy_j(series.power_t_ns, series.power_w, begin_utc_ns, end_utc_ns)
    update_ms = None
    if readings > 1:
        update_ms = float(np.median(np.diff(np.sort(series.power_t_ns[inside])))) / 1e6
    if window_s > 0 and readings < window_s / COVERAGE_PERIOD_S:
        why = "; each instant reading averages only a few ms" if power == "instant-power" else ""
        warnings.append(
            f"{readings} {power} readings for {window_s:.1f} s cover too little of the window "
            f"(fewer than one per {COVERAGE_PERIOD_S * 1000:.0f} ms{why})"
        )
    disagreement = None
    if counter is not None and integrated is not None and counter > 0:
        disagreement = 100.0 * (integrated - counter) / counter
        if abs(disagreement) > DISAGREEMENT_WARN_PCT:
            warnings.append(
                f"integrated {power.removesuffix('-power')} power differs from the energy counter by "
                f"{disagreement:+.1f} %: trust the counter"
            )
    energy = counter if counter is not None else integrated
    return ReadingsWindow(
        counter_energy_j=counter,
        integrated_energy_j=integrated,
        energy_j=energy,
        mean_power_w=energy / window_s if energy is not None and window_s > 0 else None,
        power_readings=readings,
        median_update_ms=update_ms,
        disagreement_pct=disagreement,
        warnings=tuple(warnings),
    )
