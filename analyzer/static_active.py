"""Static power and active energy: the idle phase's mean power, and the testing window's energy less it (pure).

Static power ``P_s`` is the mean wall power over the idle phase (``mlpower-agent run --idle-s``: the SUT idle
before ranging). Over the testing window of length ``T`` it accounts for the static energy ``E_s = P_s T``; the
active energy is ``E_a = E - P_s T``, ``E`` the window's wall energy (the report's ``energy_j``), so that
``E_s + E_a = E`` exactly. The same split is made per GPU (its idle mean power from its own readings strictly
inside the idle window, its window energy as the report gives it) and per node of a system (its wall sources'
idle mean powers added, its energy as the join by time gives it).

Uncertainty (:mod:`analyzer.uncertainty`): ``T`` is LoadGen's, exact here, so ``E_s``'s components are ``T``
times ``P_s``'s. ``E_a``'s are ``E``'s components (named ``testing ...``) and ``T`` times ``P_s``'s (``idle ...``),
all in quadrature. Sampling, gaps and the clock differ between the two windows and are independent. The
accuracy terms come from one instrument and are not: a gain error of the meter scales ``E`` and ``P_s T`` alike
and partly cancels in the difference (a pure gain error ``r`` gives ``r E_a``, less than either part), while the
idle phase runs on Auto ranges and testing on fixed ones, so their range terms are unrelated. Adding the two in
quadrature is therefore conservative for the positive correlation one meter gives (the cancellation is not
claimed). The same holds for a GPU, whose NVML +-5 W is mostly an offset that would cancel. The idle window is
the phase's own checkpoints on the meter's clock: no clock term for the wall; a GPU's readings are placed by the
SUT's clock map, whose bound over the testing window is used. What the error bar cannot cover: static power is
*assumed* to be what it was while idle; under load, heat raises leakage and fans spin up, which counts as active.
"""

from __future__ import annotations

import numpy as np

from analyzer.context import meter_identity
from analyzer.error_bars import budget_of, error_bar, log_budgets, system_energy_budgets
from analyzer.gpu import GpuSeries
from analyzer.idle import IdleData
from analyzer.run import RunData
from analyzer.uncertainty import Budget, ClockBound, Term, energy_budget, series_budget
from powerlog.accuracy import NVML_POWER_LIMIT_W, wall_spec
from powerlog.result_record import (
    ErrorBarRecord,
    GpuPhaseSummary,
    StaticActivePartRecord,
    StaticActiveRecord,
    SystemEnergyRecord,
)
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier
from powerlog.timestamps import NS_PER_S

__all__ = [
    "NO_IDLE_PHASE",
    "active_energy_budget",
    "per_node_split",
    "split_energy",
    "static_active",
    "static_energy_budget",
]

NO_IDLE_PHASE = (
    "no idle phase: static and active energy cannot be split (run the session with mlpower-agent run --idle-s N)"
)
_SAME_CLOCK = ClockBound(0, "the idle window is the phase's own checkpoints, on the meter's clock")
_SQRT3 = 3.0**0.5


def split_energy(energy_j: float, window_s: float, static_power_w: float) -> tuple[float, float]:
    """``(E_s, E_a)``: the static energy ``P_s T`` and the active energy ``E - P_s T``; they add up to ``E``."""
    static_j = static_power_w * window_s
    return static_j, energy_j - static_j


def static_energy_budget(static_power: Budget, window_s: float) -> Budget:
    """``P_s T``'s budget: every component of ``P_s``'s times ``T``."""
    return energy_budget(static_power, static_power.value * window_s, window_s)


def active_energy_budget(energy: Budget, static_power: Budget, window_s: float) -> Budget:
    """``E - P_s T``'s budget: ``E``'s components and ``T`` times ``P_s``'s, named apart, all in quadrature
    (conservative for one meter's correlated accuracy: see the module docstring)."""
    _, active_j = split_energy(energy.value, window_s, static_power.value)
    terms = tuple(Term(f"testing {t.name}", t.standard, t.note) for t in energy.terms) + tuple(
        Term(f"idle {t.name}", t.standard * window_s, t.note) for t in static_power.terms
    )
    return Budget(active_j, "J", terms, energy.k)


def _part(
    name: str,
    idle: Budget | None,
    readings: int,
    energy_j: float | None,
    energy: ErrorBarRecord | None,
    window_s: float,
) -> StaticActivePartRecord:
    if idle is None or energy_j is None:
        return StaticActivePartRecord(name=name, idle_readings=readings, energy_j=energy_j)
    static_j, active_j = split_energy(energy_j, window_s, idle.value)
    bar = error_bar(active_energy_budget(budget_of(energy, energy_j), idle, window_s)) if energy is not None else None
    return StaticActivePartRecord(
        name=name, idle_power_w=idle.value, idle_power_uncertainty=error_bar(idle), idle_readings=readings,
        energy_j=energy_j, static_energy_j=static_j, active_energy_j=active_j, active_energy_uncertainty=bar,
    )  # fmt: skip


def _gpu_idle(series: GpuSeries, window: tuple[int, int], clock: ClockBound) -> tuple[Budget | None, int]:
    """A GPU's idle mean power budget from its power readings strictly inside the idle window."""
    valid = np.isfinite(series.power_w) & (series.power_w >= 0)
    t_ns, power_w = series.power_t_ns[valid], series.power_w[valid]
    readings = int(((t_ns > window[0]) & (t_ns < window[1])).sum())
    if not readings:
        return None, 0
    accuracy = Term("accuracy", NVML_POWER_LIMIT_W / _SQRT3, "nvidia-smi: board power within +-5 W (uncalibrated)")
    return series_budget(t_ns, power_w, *window, accuracy, clock), readings


def _per_gpu(
    run: RunData, idle: IdleData, gpus: GpuPhaseSummary | None, window_s: float, clock: ClockBound
) -> list[StaticActivePartRecord]:
    if gpus is None or idle.window_utc_ns is None:
        return []
    series = {s.gpu_index: s for s in run.gpus}
    out = []
    for gpu in gpus.per_gpu:
        found = series.get(gpu.gpu)
        budget, readings = _gpu_idle(found, idle.window_utc_ns, clock) if found is not None else (None, 0)
        out.append(_part(f"gpu{gpu.gpu}", budget, readings, gpu.energy_j, gpu.uncertainty, window_s))
    return out


def per_node_split(idle: IdleData, system: SystemEnergyRecord | None, window_s: float) -> list[StaticActivePartRecord]:
    """Each node's idle power: its wall sources' idle energy budgets (the join's), over the idle window."""
    wall, window = idle.system_wall, idle.window_utc_ns
    if system is None or wall is None or window is None:
        return []
    idle_s = (window[1] - window[0]) / NS_PER_S
    budgets, _ = system_energy_budgets(wall.sources, None, *window, _SAME_CLOCK)
    out = []
    for node in system.nodes:
        sources = [s for s in wall.sources if s.node == node.node]
        readings = sum(int(((s.t_utc_ns > window[0]) & (s.t_utc_ns < window[1])).sum()) for s in sources)
        energy = budgets.get(node.node)
        power = energy.carried(energy.value / idle_s, "W") if energy is not None and readings else None
        out.append(_part(node.node, power, readings, node.energy_j, node.uncertainty, window_s))
    return out


def static_active(
    run: RunData,
    tier: MeasurementTier | None,
    energy: Budget | None,
    gpus: GpuPhaseSummary | None = None,
    system: SystemEnergyRecord | None = None,
    clock: ClockBound = _SAME_CLOCK,
) -> StaticActiveRecord:
    """The split of the testing window's wall energy (``energy``: its budget, None without one); ``clock``: the
    SUT clock map's bound, for the GPUs' idle readings."""
    idle = run.idle
    testing = run.testing.stats
    if idle is None:
        return StaticActiveRecord(split=False, reason=NO_IDLE_PHASE)
    if idle.problem is not None or idle.stats is None or idle.spl is None or idle.window_utc_ns is None:
        return StaticActiveRecord(split=False, reason=f"the idle phase cannot be used: {idle.problem}")
    if energy is None or testing is None or testing.energy_j is None:
        return StaticActiveRecord(split=False, reason="no wall energy in the testing window to split")
    informative = tier in INFORMATIVE_TIERS
    spec = wall_spec(meter_identity(run).model, tier, False)  # idle runs on Auto ranges
    static = log_budgets(idle.spl, idle.stats, idle.window_utc_ns, spec, None, _SAME_CLOCK, informative).power
    window_s = testing.window_s
    static_j, active_j = split_energy(testing.energy_j, window_s, static.value)
    return StaticActiveRecord(
        split=True,
        idle_window_s=idle.stats.window_s,
        idle_samples=idle.stats.samples_in_window,
        static_power_w=static.value,
        static_power_uncertainty=error_bar(static),
        window_s=window_s,
        energy_j=testing.energy_j,
        static_energy_j=static_j,
        active_energy_j=active_j,
        active_energy_uncertainty=error_bar(active_energy_budget(energy, static, window_s)),
        active_power_w=active_j / window_s if window_s > 0 else None,
        active_share_pct=100.0 * active_j / testing.energy_j if testing.energy_j else None,
        per_gpu=_per_gpu(run, idle, gpus, window_s, clock),
        nodes=per_node_split(idle, system, window_s),
    )
