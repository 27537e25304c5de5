"""A power-limit sweep's answer: each setting's figures, the Pareto frontier, the most efficient valid setting.

Pure: the points come in (read from each run's result.json by :func:`point_from_result`), the answer goes out;
nothing here touches a GPU or a file (:mod:`analyzer.sweep_output` writes the outputs).

**Frontier.** Each measured setting ``i`` is a point (wall power ``P_i``, performance ``R_i``). Point ``j``
dominates ``i`` when ``P_j <= P_i`` and ``R_j >= R_i`` with one of the two strict: it does at least as much work
for no more power. The Pareto frontier is the set of points no other point dominates, listed by rising power;
every other setting is wasted power. Valid or not, every measured point takes part (an invalid point on the
frontier is flagged, not hidden): the frontier is what the hardware does, validity is what MLPerf accepts.

**Best.** Among the VALID points (LoadGen's ``result_validity`` is ``VALID``) with an efficiency
``E_i = R_i / P_i`` (the result's own, from its report), the one with the highest ``E_i``; a tie goes to the
lower power.

**Gain over the default.** ``d`` is the point measured at the GPUs' original limit (the sweep records it).
``gain_pct = 100 (E_b / E_d - 1)`` and ``performance_change_pct = 100 (R_b / R_d - 1)``, written
``+X % samples/s/W at -Y % samples/s``. No default point measured: no gain (said why).

**Certainty.** Each efficiency carries its expanded uncertainty ``U_i`` (k = 2, about 95 %). Two settings are
ranked for certain only when their intervals ``[E_i - U_i, E_i + U_i]`` do not overlap, i.e.
``|E_b - E_i| > U_b + U_i``; otherwise the answer names the settings it cannot tell from the best. A point
without an error bar counts as overlapping nothing (and the answer says its bar is missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from powerlog.mllog import DetailLog
from powerlog.result_record import QuantityRecord, ResultJson

__all__ = [
    "CONSTRAINT_KEYS",
    "SweepAnswer",
    "SweepPoint",
    "answer",
    "frontier",
    "most_efficient_valid",
    "point_from_obj",
    "point_from_result",
    "text_table",
]

# LoadGen's detail-log keys that make a run VALID, and what each says when false
CONSTRAINT_KEYS = {
    "result_min_duration_met": "min duration",
    "result_min_queries_met": "min queries",
    "result_perf_constraints_met": "latency constraint",
    "early_stopping_met": "early stopping",
}


@dataclass(frozen=True)
class SweepPoint:
    """One setting's measured figures. Errors are expanded uncertainties (k = 2) in the figure's unit; None where
    the result has none. ``submittable`` is False for a testing-only point (ranges reused from another setting)."""

    limit_w: float
    session_id: str = ""
    performance: float | None = None
    performance_unit: str = ""
    wall_power_w: float | None = None
    wall_power_error_w: float | None = None
    efficiency: float | None = None
    efficiency_error: float | None = None
    efficiency_unit: str = ""
    validity: str | None = None  # LoadGen's result_validity: VALID, INVALID; None: not logged
    failed_constraints: tuple[str, ...] = ()
    submittable: bool = True
    gpu_power_w: float | None = None  # every GPU's mean power together in the testing window
    gpu_clock_mhz: float | None = None  # the GPUs' mean SM clock while the setting was measured (the sweep polls it)
    gpu_temperature_c: float | None = None  # the hottest GPU's highest core temperature meanwhile
    energy_per_unit_j: float | None = None  # per sample or query, or per output token for an LLM result
    energy_per_unit_error_j: float | None = None
    energy_unit: str = "J/query"
    simulated: bool = False
    local_folder: str = ""  # the agent's copy of the run
    report_html: str = ""  # the director's report.html of the run

    @property
    def valid(self) -> bool:
        return self.validity == "VALID"

    def to_obj(self) -> dict[str, Any]:
        obj = {f.name: getattr(self, f.name) for f in fields(self)}
        obj["failed_constraints"] = list(self.failed_constraints)
        return obj


def point_from_obj(obj: dict[str, Any]) -> SweepPoint:
    """A point back from sweep.json (:meth:`SweepPoint.to_obj`); unknown keys are left out."""
    known = {f.name for f in fields(SweepPoint)}
    kept = {k: v for k, v in obj.items() if k in known}
    kept["failed_constraints"] = tuple(kept.get("failed_constraints") or ())
    return SweepPoint(**kept)


def _error(q: QuantityRecord | None) -> float | None:
    return None if q is None or q.uncertainty is None else q.uncertainty.expanded


def _singular(rate_unit: str) -> str:
    """``samples/s`` -> ``sample``, ``queries/s`` -> ``query``."""
    what = rate_unit.removesuffix("/s")
    return what[:-3] + "y" if what.endswith("ies") else what.removesuffix("s")


def point_from_result(
    limit_w: float,
    result: ResultJson,
    detail: DetailLog | None = None,
    *,
    session_id: str = "",
    local_folder: str = "",
    submittable: bool = True,
) -> SweepPoint:
    """A setting's figures from its run's result.json and (for which constraint failed) its testing detail log.
    Energy per unit of work: the token figures' J/token for a token-based result; for a rate (``samples/s``,
    ``queries/s``) the wall power over it, ``P / R`` J per sample or query (an Offline run is one LoadGen query,
    so per sample is the useful figure); else the testing window's wall energy over LoadGen's query count. The
    error bar is the wall figure's, relative (the rate is taken as exact, as LoadGen counts it)."""
    r = result.report
    per_unit, per_unit_error, unit = None, None, "J/query"
    if r.tokens is not None and r.tokens.energy_per_output_token_joules is not None:
        q = r.tokens.energy_per_output_token_joules
        per_unit, per_unit_error, unit = q.value, _error(q), q.unit
    elif r.performance is not None and r.performance.unit.endswith("/s") and r.avg_power_w and r.performance.value:
        per_unit, unit = (
            r.avg_power_w / r.performance.value,
            f"J/{_singular(r.performance.unit)}",
        )
        if r.avg_power_uncertainty is not None:
            per_unit_error = per_unit * r.avg_power_uncertainty.expanded / r.avg_power_w
    elif r.energy_j is not None and r.result_query_count:
        per_unit = r.energy_j / r.result_query_count
        if r.energy_uncertainty is not None and r.energy_j:
            per_unit_error = per_unit * r.energy_uncertainty.expanded / r.energy_j
    failed = tuple(name for key, name in CONSTRAINT_KEYS.items() if detail is not None and detail.value(key) is False)
    return SweepPoint(
        limit_w=limit_w,
        session_id=session_id,
        performance=None if r.performance is None else r.performance.value,
        performance_unit="" if r.performance is None else r.performance.unit,
        wall_power_w=r.avg_power_w,
        wall_power_error_w=None if r.avg_power_uncertainty is None else r.avg_power_uncertainty.expanded,
        efficiency=None if r.efficiency is None else r.efficiency.value,
        efficiency_error=_error(r.efficiency),
        efficiency_unit="" if r.efficiency is None else r.efficiency.unit,
        validity=r.loadgen_validity,
        failed_constraints=failed,
        submittable=submittable,
        gpu_power_w=None if r.gpus is None else r.gpus.total_mean_power_w,
        energy_per_unit_j=per_unit,
        energy_per_unit_error_j=per_unit_error,
        energy_unit=unit,
        simulated=r.simulated,
        local_folder=local_folder,
        report_html=str(Path(r.folder) / "report.html") if r.folder else "",
    )


def frontier(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The points no other dominates (see the module's docstring), by rising wall power."""
    known = [p for p in points if p.performance is not None and p.wall_power_w is not None]

    def dominates(a: SweepPoint, b: SweepPoint) -> bool:
        assert a.wall_power_w is not None and b.wall_power_w is not None
        assert a.performance is not None and b.performance is not None
        no_worse = a.wall_power_w <= b.wall_power_w and a.performance >= b.performance
        return no_worse and (a.wall_power_w < b.wall_power_w or a.performance > b.performance)

    kept = [p for p in known if not any(dominates(q, p) for q in known if q is not p)]
    return sorted(kept, key=lambda p: (p.wall_power_w, p.limit_w))


def most_efficient_valid(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The valid point with the highest efficiency (a tie: the lower wall power); None when none is valid."""
    valid = [p for p in points if p.valid and p.efficiency is not None]
    if not valid:
        return None
    return max(valid, key=lambda p: (p.efficiency, -(p.wall_power_w or 0.0)))


def _overlaps(a: SweepPoint, b: SweepPoint) -> bool:
    if a.efficiency is None or b.efficiency is None or a.efficiency_error is None or b.efficiency_error is None:
        return False
    return abs(a.efficiency - b.efficiency) <= a.efficiency_error + b.efficiency_error


@dataclass(frozen=True)
class SweepAnswer:
    """The sweep's answer: the frontier's limits, the best valid setting and its gain over the default."""

    frontier_limits_w: tuple[float, ...]
    best_limit_w: float | None
    default_limit_w: float | None
    gain_pct: float | None = None  # efficiency, best over default
    performance_change_pct: float | None = None
    overlapping_limits_w: tuple[float, ...] = ()  # valid settings whose efficiency the best's error bar overlaps
    missing_error_bars: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def sentence(self, points: Sequence[SweepPoint]) -> str:
        """``best: 350 W, +12.3 % samples/s/W at -4.5 % samples/s over the default 400 W``, with the caveats."""
        best = next((p for p in points if p.limit_w == self.best_limit_w), None)
        if best is None:
            return "no valid setting: nothing to recommend (see each setting's failed constraints)"
        text = f"best valid setting: {best.limit_w:g} W ({best.efficiency:.4g} {best.efficiency_unit})"
        if self.gain_pct is not None and self.performance_change_pct is not None:
            text += (
                f", {self.gain_pct:+.1f} % {best.efficiency_unit} at {self.performance_change_pct:+.1f} % "
                f"{best.performance_unit} against the default limit {self.default_limit_w:g} W"
            )
        if self.overlapping_limits_w:
            limits = ", ".join(f"{w:g} W" for w in self.overlapping_limits_w)
            text += f"; NOT CERTAIN: its error bar overlaps those of {limits}"
        return "; ".join([text, *self.notes])

    def to_obj(self) -> dict[str, Any]:
        obj = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("frontier_limits_w", "overlapping_limits_w", "notes"):
            obj[key] = list(obj[key])
        return obj


def answer(points: Sequence[SweepPoint], default_limit_w: float | None) -> SweepAnswer:
    """Frontier, best valid point, its gain over the point at ``default_limit_w`` and how certain the ranking is."""
    best = most_efficient_valid(points)
    front = tuple(p.limit_w for p in frontier(points))
    if best is None:
        return SweepAnswer(front, None, default_limit_w, notes=("no setting ran VALID",))
    notes: list[str] = []
    default = next((p for p in points if default_limit_w is not None and p.limit_w == default_limit_w), None)
    gain = change = None
    if default_limit_w is None:
        notes.append("the GPUs had no single original limit: no gain given")
    elif default is None:
        notes.append(f"the default limit {default_limit_w:g} W was not measured: no gain given")
    elif default.efficiency and default.performance and best.efficiency and best.performance is not None:
        gain = 100.0 * (best.efficiency / default.efficiency - 1.0)
        change = 100.0 * (best.performance / default.performance - 1.0)
        if not default.valid:
            notes.append(f"the default limit's run was {default.validity or 'of unknown validity'}")
    others = [p for p in points if p is not best and p.valid and p.efficiency is not None]
    overlapping = tuple(p.limit_w for p in others if _overlaps(best, p))
    missing = best.efficiency_error is None or any(p.efficiency_error is None for p in others)
    if missing:
        notes.append("some efficiencies have no error bar: the ranking's certainty is not known")
    if not best.submittable:
        notes.append("testing-only point: not submittable (measure it again with ranging)")
    return SweepAnswer(front, best.limit_w, default_limit_w, gain, change, overlapping, missing, tuple(notes))


def _cell(value: float | None, error: float | None = None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" + ("" if error is None else f" ± {error:.{digits}f}")


def text_table(points: Sequence[SweepPoint], result: SweepAnswer) -> str:
    """One line per setting (by limit), the frontier and best marked, then the answer's sentence."""
    on_front = set(result.frontier_limits_w)
    rows = [("limit", "performance", "wall W", "efficiency", "validity", "GPU W", "MHz", "deg C", "energy/unit", "")]
    for p in sorted(points, key=lambda p: p.limit_w):
        marks = ("*best " if p.limit_w == result.best_limit_w else "") + ("frontier " if p.limit_w in on_front else "")
        marks += "" if p.submittable else "not-submittable "
        marks += "default" if p.limit_w == result.default_limit_w else ""
        validity = (p.validity or "n/a") + (f" ({', '.join(p.failed_constraints)})" if p.failed_constraints else "")
        rows.append((
            f"{p.limit_w:g} W",
            f"{_cell(p.performance, None, 1)} {p.performance_unit}",
            _cell(p.wall_power_w, p.wall_power_error_w),
            f"{_cell(p.efficiency, p.efficiency_error, 4)} {p.efficiency_unit}",
            validity,
            _cell(p.gpu_power_w, None, 1),
            _cell(p.gpu_clock_mhz, None, 0),
            _cell(p.gpu_temperature_c, None, 0),
            f"{_cell(p.energy_per_unit_j, p.energy_per_unit_error_j, 4)} {p.energy_unit}",
            marks.strip(),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if any(p.simulated for p in points):
        lines.append("SIMULATED: some sources were simulated")
    return "\n".join([*lines, result.sentence(points)])
