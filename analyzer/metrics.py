"""The numbers: pure functions from samples and LoadGen windows to power, energy and efficiency.

No clocks, no files. The official metric follows the MLPerf submission checker:
P is the mean of the total ``Watts`` of the samples strictly inside
(``power_begin``, ``power_end``) that are > 0; Offline/Server/Interactive report P in W,
SingleStream/MultiStream report P x D x 1000 / result_query_count in mJ/query.

The *result's* scenario is the one it is filed under (its folder in a submission tree);
LoadGen's ``effective_scenario`` may differ, and then the official checker infers the
result: a SingleStream run filed as MultiStream counts 8 samples per query
(P x D x 8 x 1000 / result_query_count), filed as Offline it is W with the throughput
LoadGen measured without its own overhead. An Interactive result is a Server run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from powerlog.mllog import DetailLog
from powerlog.spl import PowerLog
from powerlog.timestamps import NS_PER_MS, NS_PER_S

__all__ = [
    "MULTISTREAM_SAMPLES_PER_QUERY",
    "Performance",
    "Quantity",
    "Scenario",
    "WindowStats",
    "detail_number",
    "efficiency",
    "is_inferred",
    "performance",
    "power_metric",
    "strictly_inside",
    "trapezoid_energy_j",
    "window_stats",
]

MULTISTREAM_SAMPLES_PER_QUERY = 8


class Scenario(StrEnum):
    OFFLINE = "Offline"
    SERVER = "Server"
    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    INTERACTIVE = "Interactive"

    @property
    def energy_per_query(self) -> bool:
        return self in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM)

    @classmethod
    def parse(cls, name: object) -> Scenario | None:
        """A scenario from LoadGen's spelling or a submission folder's (``multistream``); None if none."""
        if not isinstance(name, str):
            return None
        return next((s for s in cls if s.value.lower() == name.strip().lower()), None)


def is_inferred(scenario: Scenario, loadgen_scenario: Scenario) -> bool:
    """The official checker infers a result filed under another scenario than LoadGen ran, except an
    Interactive result, which LoadGen runs as Server."""
    return scenario is not loadgen_scenario and (loadgen_scenario, scenario) != (Scenario.SERVER, Scenario.INTERACTIVE)


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str


@dataclass(frozen=True)
class Performance:
    """The performance of a result as the official checker computes it, and the detail-log key it came
    from. ``inferred``: derived from a run of another scenario (see the module docstring)."""

    value: float
    unit: str
    key: str
    inferred: bool = False


@dataclass(frozen=True)
class WindowStats:
    """Wall power inside one LoadGen window.

    ``samples_in_window`` counts the samples the official metric uses (Watts > 0,
    strictly inside); ``all_samples_in_window`` counts every sample strictly inside.
    ``energy_j`` integrates the valid samples over the whole window with the
    trapezoidal rule, interpolating linearly to the window edges from the nearest
    samples outside it (holding the nearest value where there is none).
    ``max_sample_gap_s`` is the longest stretch of the window without a sample,
    the window edges included. Readings no analyzer measures (1e308 W, NaN: see
    :meth:`~powerlog.spl.PowerLog.implausible`) are never used: they are counted in
    ``implausible_in_window`` so that a rule can fail the run.
    """

    begin_utc_ns: int
    end_utc_ns: int
    window_s: float
    samples_in_window: int
    all_samples_in_window: int
    avg_power_w: float | None
    min_power_w: float | None
    max_power_w: float | None
    std_power_w: float | None
    energy_j: float | None
    max_sample_gap_s: float
    channel_avg_power_w: tuple[float, ...]
    # samples strictly inside whose readings no analyzer measures (see PowerLog.implausible): left out of
    # every figure above; the most extreme leading Watts among them, as read
    implausible_in_window: int = 0
    implausible_example_w: float | None = None


def strictly_inside(t_ns: npt.NDArray[np.int64], begin_ns: int, end_ns: int) -> npt.NDArray[np.bool_]:
    """The times strictly inside ``(begin, end)``: the official checker's window rule, for every series."""
    inside: npt.NDArray[np.bool_] = (t_ns > begin_ns) & (t_ns < end_ns)
    return inside


def window_stats(log: PowerLog, begin_utc_ns: int, end_utc_ns: int) -> WindowStats:
    t = log.t_utc_ns
    inside = strictly_inside(t, begin_utc_ns, end_utc_ns)
    implausible = log.implausible()
    valid = ~implausible & (log.power_w > 0)
    used = inside & valid
    bad_inside = log.power_w[inside & implausible]
    power = log.power_w[used]
    n_used = int(power.shape[0])
    edges = np.concatenate(([begin_utc_ns], t[inside], [end_utc_ns])).astype(np.int64)
    max_gap_s = float(np.diff(np.sort(edges)).max()) / NS_PER_S if edges.shape[0] > 1 else 0.0
    channel_avgs = tuple(float(ch.power_w[used].mean()) for ch in log.channels) if n_used else ()
    return WindowStats(
        begin_utc_ns=begin_utc_ns,
        end_utc_ns=end_utc_ns,
        window_s=(end_utc_ns - begin_utc_ns) / NS_PER_S,
        samples_in_window=n_used,
        all_samples_in_window=int(inside.sum()),
        avg_power_w=float(power.mean()) if n_used else None,
        min_power_w=float(power.min()) if n_used else None,
        max_power_w=float(power.max()) if n_used else None,
        std_power_w=float(power.std()) if n_used else None,
        energy_j=trapezoid_energy_j(t[valid], log.power_w[valid], begin_utc_ns, end_utc_ns) if n_used else None,
        max_sample_gap_s=max_gap_s,
        channel_avg_power_w=channel_avgs,
        implausible_in_window=int(bad_inside.shape[0]),
        implausible_example_w=_most_extreme(bad_inside),
    )


def _most_extreme(power_w: npt.NDArray[np.float64]) -> float | None:
    """The reading furthest from plausible: a NaN first, then the largest in magnitude."""
    if power_w.shape[0] == 0:
        return None
    nan = np.isnan(power_w)
    return float(power_w[nan][0]) if nan.any() else float(power_w[np.argmax(np.abs(power_w))])


def trapezoid_energy_j(t_utc_ns: np.ndarray, power_w: np.ndarray, begin_utc_ns: int, end_utc_ns: int) -> float:
    """Integral of power over [begin, end]: linear between samples, interpolated to the edges
    from the nearest samples outside (held constant where there are none)."""
    order = np.argsort(t_utc_ns, kind="stable")
    t_s = (t_utc_ns[order] - begin_utc_ns) / NS_PER_S
    p = power_w[order]
    end_s = (end_utc_ns - begin_utc_ns) / NS_PER_S
    inside = (t_s > 0) & (t_s < end_s)
    edge_power = np.interp([0.0, end_s], t_s, p)
    times = np.concatenate(([0.0], t_s[inside], [end_s]))
    powers = np.concatenate(([edge_power[0]], p[inside], [edge_power[1]]))
    return float(np.trapezoid(powers, times))


def power_metric(
    scenario: Scenario,
    avg_power_w: float,
    window_s: float,
    query_count: int | None,
    loadgen_scenario: Scenario | None = None,
) -> Quantity:
    """The official power metric of a result filed under ``scenario``: W, or mJ per query for
    SingleStream/MultiStream (x 8 samples per query when a SingleStream run is filed as MultiStream)."""
    if not scenario.energy_per_query:
        return Quantity(avg_power_w, "W")
    if not query_count:
        raise ValueError(f"{scenario.value} needs result_query_count > 0 to give mJ/query")
    per_query = (
        MULTISTREAM_SAMPLES_PER_QUERY
        if (scenario, loadgen_scenario)
        == (
            Scenario.MULTI_STREAM,
            Scenario.SINGLE_STREAM,
        )
        else 1
    )
    return Quantity(avg_power_w * window_s * per_query * 1000.0 / query_count, "mJ/query")


def _from_key(detail: DetailLog, key: str | None, inferred: bool = False) -> Performance | None:
    """LoadGen's figure under ``key`` as it is (latencies from ns to ms), with its unit."""
    value = detail_number(detail, key) if key else None
    if value is None or key is None:
        return None
    if "tokens" in key:
        return Performance(value, "tokens/s", key, inferred)
    if "latency" in key:
        return Performance(value / NS_PER_MS, "ms", key, inferred)
    return Performance(value, "samples/s", key, inferred)


def detail_number(detail: DetailLog, key: str) -> float | None:
    """LoadGen's figure under ``key`` when it is a finite number >= 0 (``NaN`` or ``1e400`` is no figure)."""
    value = detail.value(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) and number >= 0 else None


def performance(
    scenario: Scenario, detail: DetailLog, key: str | None, loadgen_scenario: Scenario | None = None
) -> Performance | None:
    """The performance of a result filed under ``scenario`` whose run LoadGen logged as ``loadgen_scenario``.

    ``key`` is the round's performance key for LoadGen's scenario and the benchmark. Latencies are
    reported in ms (LoadGen logs ns), as the official checker reports them. None when the detail log
    lacks what is needed.
    """
    loadgen_scenario = loadgen_scenario or scenario
    if is_inferred(scenario, loadgen_scenario):
        return _inferred_performance(scenario, loadgen_scenario, detail, key)
    if key is None:
        return None
    if detail.event(key) is None and scenario is Scenario.OFFLINE and detail.event("result_tokens_per_second"):
        key = "result_tokens_per_second"  # an LLM result of a round that predates its benchmark's key
    return _from_key(detail, key)


def _inferred_performance(
    scenario: Scenario, loadgen_scenario: Scenario, detail: DetailLog, key: str | None
) -> Performance | None:
    pair = (loadgen_scenario, scenario)
    if pair == (Scenario.SINGLE_STREAM, Scenario.OFFLINE):
        name = "result_qps_without_loadgen_overhead"
        value = detail_number(detail, name)
        return None if value is None else Performance(value, "samples/s", name, inferred=True)
    if pair == (Scenario.MULTI_STREAM, Scenario.OFFLINE):
        name = "result_mean_query_latency_ns"
        latency_ns, per_query = detail_number(detail, name), detail_number(detail, "effective_samples_per_query")
        if not latency_ns or per_query is None:
            return None
        return Performance(per_query * NS_PER_S / latency_ns, "samples/s", name, inferred=True)
    if pair == (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM):
        latency_key = "early_stopping_latency_ms" if detail.event("early_stopping_latency_ms") else key
        latency_ns = detail_number(detail, latency_key) if latency_key else None
        if latency_ns is None or latency_key is None:
            return None
        return Performance(latency_ns * MULTISTREAM_SAMPLES_PER_QUERY / NS_PER_MS, "ms", latency_key, inferred=True)
    return _from_key(detail, key, inferred=True)  # the official checker takes LoadGen's figure as it is


def efficiency(scenario: Scenario, perf: Performance | None, metric: Quantity) -> Quantity | None:
    """Performance per watt (Offline, Server, Interactive) or samples per joule (SingleStream; MultiStream
    at 8 samples per query, as the official checker counts it)."""
    if metric.value <= 0:
        return None
    if scenario is Scenario.SINGLE_STREAM:
        return Quantity(1000.0 / metric.value, "samples/J")
    if scenario is Scenario.MULTI_STREAM:
        return Quantity(MULTISTREAM_SAMPLES_PER_QUERY * 1000.0 / metric.value, "samples/J")
    if perf is None:
        return None
    return Quantity(perf.value / metric.value, f"{perf.unit}/W")
