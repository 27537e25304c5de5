"""The numbers: pure functions from samples and LoadGen windows to power, energy and efficiency.

No clocks, no files. The official metric follows the MLPerf submission checker:
P is the mean of the total ``Watts`` of the samples strictly inside
(``power_begin``, ``power_end``) that are > 0; Offline/Server report P in W,
SingleStream/MultiStream report P x D x 1000 / result_query_count in mJ/query.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from powerlog.mllog import DetailLog
from powerlog.spl import PowerLog
from powerlog.timestamps import NS_PER_S

__all__ = [
    "MULTISTREAM_SAMPLES_PER_QUERY",
    "Performance",
    "Quantity",
    "Scenario",
    "WindowStats",
    "efficiency",
    "performance",
    "power_metric",
    "trapezoid_energy_j",
    "window_stats",
]

MULTISTREAM_SAMPLES_PER_QUERY = 8


class Scenario(StrEnum):
    OFFLINE = "Offline"
    SERVER = "Server"
    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"

    @property
    def energy_per_query(self) -> bool:
        return self in (Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM)


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str


@dataclass(frozen=True)
class Performance:
    """What LoadGen reports as the performance result, and the detail-log key it came from."""

    value: float
    unit: str
    key: str


@dataclass(frozen=True)
class WindowStats:
    """Wall power inside one LoadGen window.

    ``samples_in_window`` counts the samples the official metric uses (Watts > 0,
    strictly inside); ``all_samples_in_window`` counts every sample strictly inside.
    ``energy_j`` integrates the valid samples over the whole window with the
    trapezoidal rule, interpolating linearly to the window edges from the nearest
    samples outside it (holding the nearest value where there is none).
    ``max_sample_gap_s`` is the longest stretch of the window without a sample,
    the window edges included.
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


def window_stats(log: PowerLog, begin_utc_ns: int, end_utc_ns: int) -> WindowStats:
    t = log.t_utc_ns
    inside = (t > begin_utc_ns) & (t < end_utc_ns)
    valid = np.isfinite(log.power_w) & (log.power_w > 0)
    used = inside & valid
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
    )


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


def power_metric(scenario: Scenario, avg_power_w: float, window_s: float, query_count: int | None) -> Quantity:
    """The official power metric: W, or mJ per query for SingleStream/MultiStream."""
    if not scenario.energy_per_query:
        return Quantity(avg_power_w, "W")
    if not query_count:
        raise ValueError(f"{scenario.value} needs result_query_count > 0 to give mJ/query")
    return Quantity(avg_power_w * window_s * 1000.0 / query_count, "mJ/query")


def performance(scenario: Scenario, detail: DetailLog, server_key: str) -> Performance | None:
    """The performance LoadGen reports for the scenario (``server_key`` depends on the round)."""
    keys = {
        Scenario.OFFLINE: ("result_samples_per_second", "samples/s"),
        Scenario.SERVER: (server_key, "samples/s"),
        Scenario.SINGLE_STREAM: ("result_90.00_percentile_latency_ns", "ns"),
        Scenario.MULTI_STREAM: ("result_99.00_percentile_per_query_latency_ns", "ns"),
    }
    key, unit = keys[scenario]
    if scenario is Scenario.OFFLINE and detail.event(key) is None and detail.event("result_tokens_per_second"):
        key, unit = "result_tokens_per_second", "tokens/s"
    value = detail.value(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Performance(float(value), unit, key)


def efficiency(
    scenario: Scenario,
    perf: Performance | None,
    metric: Quantity,
    samples_per_query: int = MULTISTREAM_SAMPLES_PER_QUERY,
) -> Quantity | None:
    """Performance per watt (Offline, Server) or samples per joule (SingleStream, MultiStream)."""
    if metric.value <= 0:
        return None
    if scenario is Scenario.SINGLE_STREAM:
        return Quantity(1000.0 / metric.value, "samples/J")
    if scenario is Scenario.MULTI_STREAM:
        return Quantity(samples_per_query * 1000.0 / metric.value, "samples/J")
    if perf is None:
        return None
    return Quantity(perf.value / metric.value, f"{perf.unit}/W")
