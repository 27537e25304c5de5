"""GPU energy per LoadGen window, from the readings the agent streamed: pure functions.

The energy counter (``nvmlDeviceGetTotalEnergyConsumption``) is the primary source: read at each phase
boundary and with every batch, the window's energy is the counter interpolated to the window's edges, a
difference of two readings rather than an estimate. The power readings are integrated too (trapezoids) as
the cross-check: the instant field on recent data-centre GPUs averages only about 25 ms of every 100 ms, so
sparse samples can miss bursts the counter sees. Where the two differ by more than ``DISAGREEMENT_WARN_PCT``
the warning gives both figures.

The counter is first made one running count (:func:`counter_track`): with readings E_0..E_n at t_0..t_n,
``C_0 = 0`` and ``C_k = C_{k-1} + d_k``, where ``d_k`` is :func:`powerlog.sut_samples.counter_step_j`
(the difference; across a wrap, the distance to the counter's end plus the new reading; across a reset, the
integrated power over that interval where there are power readings in it, else the new reading: the energy
since the reload, a lower bound). The window's counter energy is
``C(end) - C(begin)``, C linear between readings. A run of readings at one value lasting at least
``STUCK_MIN_S`` while the power readings over it average at least ``STUCK_MIN_W`` is a stuck counter; then,
and where power reads 0 W with the counter standing still, the counter's figure is not used (integrated
power is, where there is any: a GPU reporting zero gets no energy figure, never a silent 0 J).

The same figures serve every series of power readings with an energy counter: :func:`readings_window`
takes any :class:`Readings` (a GPU's, a component's: :mod:`analyzer.components`), :func:`gpu_window`
adds what only a GPU has: whether its power readings are instant or NVML's 1 s average, and whether its
figure covers the GPU or the whole module (GH200).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from analyzer.metrics import strictly_inside, trapezoid_energy_j
from powerlog.sut_samples import (
    FAULT_NO_COUNTER,
    FAULT_RESET,
    FAULT_STUCK,
    FAULT_WRAP,
    FAULT_ZERO,
    STUCK_MIN_S,
    STUCK_MIN_W,
    counter_scope,
    counter_step_j,
)
from powerlog.timestamps import NS_PER_S
from powerlog.wire import GpuDescription

__all__ = [
    "AVERAGE_COVERAGE_PERIOD_S",
    "COVERAGE_PERIOD_S",
    "DISAGREEMENT",
    "DISAGREEMENT_WARN_PCT",
    "MIN_WINDOW_S",
    "MODULE_SCOPE",
    "CounterEvent",
    "CounterTrack",
    "GpuSeries",
    "GpuWindow",
    "Readings",
    "ReadingsWindow",
    "counter_track",
    "describe_gpus",
    "gpu_record_fields",
    "gpu_window",
    "readings_window",
]

DISAGREEMENT_WARN_PCT = 5.0
MIN_WINDOW_S = 1.0
COVERAGE_PERIOD_S = 0.2  # fewer distinct instant readings than one per 200 ms (half the default rate) is too few
AVERAGE_COVERAGE_PERIOD_S = 1.0  # a 1 s average covers its second: one per second is enough
DISAGREEMENT = "counter-vs-power"  # the name of the disagreement warning
MODULE_SCOPE = "module-scope"  # the name of the warning that a figure covers the whole module
_FIELD_LABELS = {"instant": ("instant", "gpu"), "instant/module": ("instant", "module"), "average": ("average", "gpu")}


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
    """One GPU's readings on the meter's (director's) clock, and what they are (None: not recorded)."""

    gpu_index: int
    power_t_ns: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.float64]
    energy_t_ns: npt.NDArray[np.int64]
    energy_j: npt.NDArray[np.float64]
    power_kind: str | None = None  # "instant" or "average" (NVML's 1 s mean)
    power_scope: str | None = None  # "gpu" or "module"
    energy_scope: str | None = None  # the counter's: "gpu" or "module"
    energy_counter: bool | None = None  # whether the agent found a counter


@dataclass(frozen=True)
class CounterEvent:
    """A fault of an energy counter between two of its readings (``from``/``until``, meter clock)."""

    fault: str  # FAULT_RESET, FAULT_WRAP or FAULT_STUCK
    from_utc_ns: int
    until_utc_ns: int
    before_j: float  # the raw reading at ``from``
    after_j: float  # the raw reading at ``until``
    power_w: float | None = None  # stuck: the mean power read meanwhile


@dataclass(frozen=True)
class CounterTrack:
    """A counter's readings as one running count since its first reading (resets and wraps undone)."""

    t_ns: npt.NDArray[np.int64]
    running_j: npt.NDArray[np.float64]
    events: tuple[CounterEvent, ...]


@dataclass(frozen=True)
class ReadingsWindow:
    """One source's figures in a window."""

    counter_energy_j: float | None
    integrated_energy_j: float | None
    energy_j: float | None  # the counter's where it has a usable one, else the integrated power's
    mean_power_w: float | None
    power_readings: int
    median_update_ms: float | None
    disagreement_pct: float | None  # integrated vs counter
    warnings: tuple[str, ...]
    faults: tuple[str, ...] = ()  # the names (powerlog.sut_samples.GPU_FAULTS) of the faults in the window
    energy_from: str | None = None  # "counter" or "power": where energy_j came from


@dataclass(frozen=True)
class GpuWindow(ReadingsWindow):
    gpu_index: int = 0
    power_reading_kind: str | None = None  # "instant" or "average"; None: not recorded
    scope: str | None = None  # what energy_j covers: "gpu" or "module"; None: not recorded


def describe_gpus(series: Sequence[GpuSeries], described: Sequence[GpuDescription]) -> tuple[GpuSeries, ...]:
    """The series with what the agent said of each GPU (session.json ``agent.gpus``, a node's ``sources.gpus``).

    Folders from agents that did not record ``power_kind`` and the scopes: the kind and power scope follow from
    the power field's label (``instant``, ``instant/module``, ``average``; ``usage`` stays unknown), the counter's
    scope from the device name (:func:`powerlog.sut_samples.counter_scope`)."""
    by_index = {d.index: d for d in described}
    out = []
    for s in series:
        d = by_index.get(s.gpu_index)
        if d is None:
            out.append(s)
            continue
        kind, scope = _FIELD_LABELS.get(d.power_field or "", (None, None))
        counter = d.energy_counter
        out.append(
            dataclasses.replace(
                s,
                power_kind=d.power_kind or kind,
                power_scope=d.power_scope or scope,
                energy_scope=(d.energy_scope or counter_scope(d.name)) if counter else None,
                energy_counter=counter,
            )
        )
    return tuple(out)


def counter_track(series: Readings) -> CounterTrack:
    """The energy counter as one running count, with its resets, wraps and stuck stretches (see the module)."""
    order = np.argsort(series.energy_t_ns, kind="stable")
    t, raw = series.energy_t_ns[order], series.energy_j[order]
    steps = np.diff(raw)
    events: list[CounterEvent] = []
    for k in np.flatnonzero(steps < 0) + 1:  # a drop is rare: one at a time
        step, fault = counter_step_j(float(raw[k - 1]), float(raw[k]), int(t[k] - t[k - 1]))
        if fault == FAULT_RESET:  # the part before the reload is lost: the power readings say it, where there are any
            power_w = _mean_power_w(series, int(t[k - 1]), int(t[k]))
            step = step if power_w is None else power_w * (t[k] - t[k - 1]) / NS_PER_S
        steps[k - 1] = step
        if fault is not None:
            events.append(CounterEvent(fault, int(t[k - 1]), int(t[k]), float(raw[k - 1]), float(raw[k])))
    running = np.concatenate(([0.0], np.cumsum(steps))) if raw.shape[0] else np.zeros(0)
    events += _stuck(series, t, raw)
    return CounterTrack(t, running, tuple(sorted(events, key=lambda e: e.from_utc_ns)))


def _stuck(series: Readings, t: npt.NDArray[np.int64], raw: npt.NDArray[np.float64]) -> list[CounterEvent]:
    """Runs of readings at one value lasting ``STUCK_MIN_S`` or more while the power averaged ``STUCK_MIN_W``."""
    if not raw.shape[0]:
        return []
    new_value = np.flatnonzero(raw[1:] != raw[:-1]) + 1  # where each run after the first begins
    starts = np.concatenate(([0], new_value))
    ends = np.concatenate((new_value - 1, [raw.shape[0] - 1]))
    long = (t[ends] - t[starts]) >= STUCK_MIN_S * NS_PER_S
    out = []
    for k, j in zip(starts[long], ends[long], strict=True):
        power = _mean_power_w(series, int(t[k]), int(t[j]))
        if power is not None and power >= STUCK_MIN_W:
            out.append(CounterEvent(FAULT_STUCK, int(t[k]), int(t[j]), float(raw[k]), float(raw[j]), power))
    return out


def _mean_power_w(series: Readings, begin_ns: int, end_ns: int) -> float | None:
    if not strictly_inside(series.power_t_ns, begin_ns, end_ns).any():
        return None
    return trapezoid_energy_j(series.power_t_ns, series.power_w, begin_ns, end_ns) * NS_PER_S / (end_ns - begin_ns)


def gpu_window(series: GpuSeries, begin_utc_ns: int, end_utc_ns: int) -> GpuWindow:
    """A GPU's figures in ``[begin, end]`` (meter clock): :func:`readings_window`, and what only a GPU has."""
    kind = series.power_kind
    period = AVERAGE_COVERAGE_PERIOD_S if kind == "average" else COVERAGE_PERIOD_S
    w = readings_window(series, begin_utc_ns, end_utc_ns, "GPU", f"{kind or 'instant'}-power", period)
    warnings, faults = list(w.warnings), list(w.faults)
    if series.energy_counter is False or (series.energy_counter is None and not len(series.energy_t_ns)):
        faults.append(FAULT_NO_COUNTER)
        source = f"the integrated {kind} power" if kind else "the integrated power"
        none = "" if w.integrated_energy_j is not None else ", and there are no power readings"
        warnings.append(
            f"{FAULT_NO_COUNTER}: GPU {series.gpu_index} has no energy counter: its energy is {source}{none}"
        )
    scope = series.energy_scope if w.energy_from == "counter" else series.power_scope if w.energy_from else None
    if scope == "module":
        warnings.append(
            f"{MODULE_SCOPE}: GPU {series.gpu_index}'s figure covers the whole module (CPU, memory and GPU), not the "
            "GPU alone: it overlaps the rest of the system's share of the wall"
        )
    values = {f.name: getattr(w, f.name) for f in fields(w)} | {"warnings": tuple(warnings), "faults": tuple(faults)}
    return GpuWindow(**values, gpu_index=series.gpu_index, power_reading_kind=kind, scope=scope)


def readings_window(
    series: Readings,
    begin_utc_ns: int,
    end_utc_ns: int,
    what: str = "GPU",
    power: str = "instant-power",
    coverage_period_s: float = COVERAGE_PERIOD_S,
) -> ReadingsWindow:
    """A source's energy and power in ``[begin, end]`` (meter clock), with warnings naming it ``what`` and
    its readings ``power`` readings (too few: fewer than one per ``coverage_period_s``)."""
    window_s = (end_utc_ns - begin_utc_ns) / NS_PER_S
    warnings: list[str] = []
    if window_s < MIN_WINDOW_S:
        warnings.append(f"window of {window_s:.3f} s is shorter than {MIN_WINDOW_S:g} s: {what} figures are rough")
    counter, counter_notes, faults = _counter_in_window(series, begin_utc_ns, end_utc_ns)
    warnings += counter_notes
    inside = strictly_inside(series.power_t_ns, begin_utc_ns, end_utc_ns)
    readings = int(inside.sum())
    integrated = None
    if readings:
        integrated = trapezoid_energy_j(series.power_t_ns, series.power_w, begin_utc_ns, end_utc_ns)
    update_ms = None
    if readings > 1:
        update_ms = float(np.median(np.diff(np.sort(series.power_t_ns[inside])))) / 1e6
    if window_s > 0 and readings < window_s / coverage_period_s:
        why = "; each instant reading averages only a few ms" if power == "instant-power" else ""
        warnings.append(
            f"{readings} {power} readings for {window_s:.1f} s cover too little of the window "
            f"(fewer than one per {coverage_period_s * 1000:.0f} ms{why})"
        )
    zero_power = readings > 0 and not np.any(series.power_w[inside])
    usable_power = integrated if readings and not zero_power else None
    stuck = FAULT_STUCK in faults
    if counter == 0 and not stuck and usable_power:  # too short a stretch for the track to call it stuck
        faults.append(FAULT_STUCK)
        warnings.append(
            f"{FAULT_STUCK}: the energy counter did not move in the window while the power read "
            f"{usable_power / window_s:.1f} W on average: the energy is the integrated power"
        )
        stuck = True
    usable_counter = counter if counter and not stuck else None  # a counter that did not move is no figure
    if zero_power or (counter == 0 and not stuck):
        faults.append(FAULT_ZERO)
        warnings.append(_zero_warning(what, readings, zero_power, counter, usable_counter))
    disagreement = None
    if usable_counter is not None and usable_power is not None:
        disagreement = 100.0 * (usable_power - usable_counter) / usable_counter
        if abs(disagreement) > DISAGREEMENT_WARN_PCT:
            warnings.append(
                f"{DISAGREEMENT}: integrated {power.removesuffix('-power')} power {usable_power:.1f} J differs from "
                f"the energy counter's {usable_counter:.1f} J by {disagreement:+.1f} % (more than "
                f"{DISAGREEMENT_WARN_PCT:g} %): trust the counter"
            )
    energy = usable_counter if usable_counter is not None else usable_power
    return ReadingsWindow(
        counter_energy_j=counter,
        integrated_energy_j=integrated,
        energy_j=energy,
        mean_power_w=energy / window_s if energy is not None and window_s > 0 else None,
        power_readings=readings,
        median_update_ms=update_ms,
        disagreement_pct=disagreement,
        warnings=tuple(warnings),
        faults=tuple(dict.fromkeys(faults)),
        energy_from=None if energy is None else "counter" if usable_counter is not None else "power",
    )


def _counter_in_window(series: Readings, begin_ns: int, end_ns: int) -> tuple[float | None, list[str], list[str]]:
    """The counter's energy in the window (None: not read before and after it), warnings and fault names."""
    if not len(series.energy_t_ns):
        return None, [], []
    track = counter_track(series)
    warnings, faults = [], []
    for e in track.events:
        if e.until_utc_ns < begin_ns or e.from_utc_ns > end_ns:
            continue
        faults.append(e.fault)
        offset_s = (e.from_utc_ns - begin_ns) / NS_PER_S
        at = f"{offset_s:.1f} s into the window" if offset_s >= 0 else f"{-offset_s:.1f} s before the window"
        if e.fault == FAULT_RESET:
            warnings.append(
                f"{FAULT_RESET}: the energy counter went back from {e.before_j:.1f} J to {e.after_j:.1f} J after "
                f"{at} (the driver reloaded?): the interval of the reload is counted from the power readings "
                "(or, without any, from the reload on)"
            )
        elif e.fault == FAULT_WRAP:
            warnings.append(f"{FAULT_WRAP}: the energy counter passed its end and began again after {at}: undone")
        else:
            warnings.append(
                f"{FAULT_STUCK}: the energy counter stood at {e.before_j:.1f} J for "
                f"{(e.until_utc_ns - e.from_utc_ns) / NS_PER_S:.1f} s from {at} while the power read "
                f"{e.power_w or 0:.1f} W on average: the energy is the integrated power"
            )
    if track.t_ns.min() > begin_ns or track.t_ns.max() < end_ns:
        return None, [*warnings, "the energy counter was not read before and after the window"], faults
    edges = np.interp([begin_ns, end_ns], track.t_ns, track.running_j)
    return float(edges[1] - edges[0]), warnings, faults


def _zero_warning(what: str, readings: int, zero_power: bool, counter: float | None, used: float | None) -> str:
    if zero_power and used is not None:
        return (
            f"{FAULT_ZERO}: {what} power read 0 W in all {readings} readings while the energy counter moved "
            f"{used:.1f} J: the counter's figure is used"
        )
    said = [f"power read 0 W in all {readings} readings"] if zero_power else []
    said += ["the energy counter did not move"] if counter == 0 else []
    return f"{FAULT_ZERO}: {what} reports zero ({' and '.join(said)}): no energy figure, rather than a silent 0 J"


def gpu_record_fields(w: GpuWindow) -> dict[str, Any]:
    """What a GPU's result record (:class:`~powerlog.result_record.GpuRecord`) says beyond the shared figures."""
    return {
        "power_reading_kind": w.power_reading_kind,
        "scope": w.scope,
        "energy_from": w.energy_from,
        "faults": list(w.faults),
    }
