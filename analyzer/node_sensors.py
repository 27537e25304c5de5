"""The node agents' own sensors in the report: each node's GPUs and components over the testing window, and its gaps.

Pure: reads only :class:`~analyzer.run.RunData`. A node's figures are those of the LoadGen node's GPUs and
components (:func:`analyzer.gpu.readings_window`) over LoadGen's testing window on the director's clock; they
are not shares of the LoadGen node's wall power, which does not hold them.
"""

from __future__ import annotations

from typing import Any

from analyzer.components import component_window
from analyzer.error_bars import error_bar, gpu_energy_budget
from analyzer.gpu import GpuSeries, ReadingsWindow, gpu_record_fields, gpu_window
from analyzer.run import NodeData, RunData
from analyzer.uncertainty import ClockBound
from powerlog.result_record import ComponentRecord, GpuRecord, NodeGapRecord, NodeSensorsRecord
from powerlog.run_record import NodeGap, NodeRecord
from powerlog.timestamps import NS_PER_S
from powerlog.wire import UTC_NS_MAX

__all__ = ["gap_in_window_s", "node_sensors"]


def gap_in_window_s(gap: NodeGap, window: tuple[int, int] | None) -> float:
    """How many seconds of ``window`` (director clock) the gap covers; one never closed runs to the window's end."""
    if window is None:
        return 0.0
    until = gap.until_utc_ns if gap.until_utc_ns is not None else UTC_NS_MAX
    return max(0, min(until, window[1]) - max(gap.from_utc_ns, window[0])) / NS_PER_S


def _figures(w: ReadingsWindow) -> dict[str, Any]:
    return {
        "energy_j": w.energy_j,
        "counter_energy_j": w.counter_energy_j,
        "integrated_energy_j": w.integrated_energy_j,
        "counter_vs_integrated_pct": w.disagreement_pct,
        "mean_power_w": w.mean_power_w,
        "power_readings": w.power_readings,
        "median_update_ms": w.median_update_ms,
        "warnings": list(w.warnings),
    }


def _gap_record(gap: NodeGap, window: tuple[int, int] | None) -> NodeGapRecord:
    length = (gap.until_utc_ns - gap.from_utc_ns) / NS_PER_S if gap.until_utc_ns is not None else None
    return NodeGapRecord(
        reason=gap.reason,
        phase=gap.phase,
        from_utc_ns=gap.from_utc_ns,
        until_utc_ns=gap.until_utc_ns,
        length_s=length,
        in_testing_window_s=gap_in_window_s(gap, window),
    )


def _node(node: NodeData, entry: NodeRecord | None, window: tuple[int, int] | None) -> NodeSensorsRecord:
    sources = entry.sources if entry is not None else None
    described = {c.name: c for c in sources.components} if sources is not None else {}
    gpus: list[GpuRecord] = []
    components: list[ComponentRecord] = []
    if window is not None:
        gpu_windows = [gpu_window(s, *window) for s in node.gpus]
        gpus = [GpuRecord(gpu=w.gpu_index, **gpu_record_fields(w), **_figures(w)) for w in gpu_windows]
        gpus = [_with_error_bar(g, series, node, window) for g, series in zip(gpus, node.gpus, strict=True)]
        for series in node.components:
            w = component_window(series, *window)
            about = described.get(series.name)
            components.append(
                ComponentRecord(
                    name=w.name,
                    family=w.family,
                    parent=about.parent if about else None,
                    simulated=bool(about.simulated) if about else bool(sources and sources.simulated_components),
                    **_figures(w.figures),
                )
            )
    energies = [g.energy_j for g in gpus]
    total = sum(e for e in energies if e is not None) if gpus and None not in energies else None
    window_s = (window[1] - window[0]) / NS_PER_S if window is not None else 0.0
    return NodeSensorsRecord(
        node=node.name,
        simulated=bool(sources and (sources.simulated_gpus or sources.simulated_components)),
        gpus=gpus,
        gpu_energy_j=total,
        gpu_avg_power_w=total / window_s if total is not None and window_s > 0 else None,
        components=components,
        gaps=[_gap_record(g, window) for g in entry.gaps] if entry is not None else [],
    )


def _with_error_bar(gpu: GpuRecord, series: GpuSeries, node: NodeData, window: tuple[int, int]) -> GpuRecord:
    """A node GPU's record with the error bar of its energy; none where the node measured no clock offset (how far
    its readings may be off the director's clock is then unknown)."""
    bound_ns = node.clock_map.bound_ns((window[0] + window[1]) // 2) if node.clock_map is not None else None
    if gpu.energy_j is None or bound_ns is None:
        return gpu
    clock = ClockBound(bound_ns, f"node {node.name}'s clock map bound")
    return gpu.model_copy(update={"uncertainty": error_bar(gpu_energy_budget(series, *window, gpu.energy_j, clock))})


def node_sensors(run: RunData) -> list[NodeSensorsRecord] | None:
    """Per node agent, its sensors over the testing window and its gaps; None for a run without nodes."""
    if not run.nodes:
        return None
    described = run.mlpower_session.nodes if run.mlpower_session is not None else {}
    window = run.testing.meter_window_utc_ns
    return [_node(node, described.get(node.name), window) for node in run.nodes]
