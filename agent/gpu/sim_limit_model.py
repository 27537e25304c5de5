"""The SIMULATED GPUs' response to a power limit: clock, power and throughput against the cap, and where they meet.

The model (every number it gives is SIMULATED, chosen to be plausible, not measured on any GPU):

- A board draws ``P(f, u) = P_idle + dP x u x f^3`` at clock fraction ``f`` (1: its full sustained clock) and
  load ``u`` in [0, 1], with ``dP = P_peak - P_idle``: dynamic power goes as ``f V^2`` and the voltage follows
  the clock, hence ``f^3``.
- A cap ``C`` in ``[C_min, C_max]`` (``C_max``: the board's TDP, the default limit) lowers the clock until the
  power fits: ``f(C, u) = min(1, ((C - P_idle) / (dP x u))^(1/3))``, so ``P(C, u) = min(P_idle + dP x u, C)``.
- Throughput follows the clock up to a knee and no further (above ``f_knee`` the work is memory-bound):
  ``speed(C) = min(1, f(C, 1) / f_knee)``, relative to the uncapped board.
- At the wall, with the rest of the system drawing ``R`` and ``n`` GPUs at full load:
  ``wall(C) = R + n x P(C, 1)`` and the efficiency is ``speed(C) / wall(C)``.

Below the knee the efficiency ``f / (R + n P_idle + n dP f^3)`` grows while ``f < f* = ((R + n P_idle) /
(2 n dP))^(1/3)``; above it the speed is flat while the power still grows. The best cap is therefore at
``f_best = min(f_knee, f*, 1)``: ``C_best = P_idle + dP x f_best^3``, clamped to ``[C_min, C_max]``
(:func:`best_cap_w`). Defaults: ``P_idle = 20 W``, ``P_peak = 60 W``, ``C_max = 75 W``, ``C_min = 30 W``,
``f_knee = 0.8``, ``R = 50 W``: for one or two GPUs ``f* > f_knee`` and ``C_best = 20 + 40 x 0.512 = 40.48 W``;
of the caps 30, 40, 50 and 75 W the best is 40 W.

The coupling that lets a whole sweep on a machine without GPUs see the model, all in the simulator's room:
:class:`~agent.gpu.simulated.SimulatedGpus` given a state folder (``MLPOWER_SIM_GPU_STATE``, which ``--gpus
sim:N`` reads) keep their limits in ``limits.json`` there (so that every process, and the next start after a
kill, sees the same limits, as a driver keeps them) and write their latest power to ``power.json``; the
simulated wall meter's ``--signal sim-gpus:FOLDER[,REST_W]`` (:mod:`director.sim.signal`) adds that power to a
constant rest of the system; the built-in benchmark, which inherits the variable, runs at :func:`workload_speed`
of its speed (or at ``MLPOWER_SIM_GPU_SPEED`` where that is set) and marks the GPUs busy while it computes
(:func:`mark_busy`: the ``busy`` file's time), so that the simulated GPUs are at full load (``u = 1``, the load
:func:`best_cap_w` assumes) while it runs, whatever else this machine's CPUs do; otherwise they follow the CPU.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUSY_FILE",
    "BUSY_HOLD_NS",
    "DEFAULT_MODEL",
    "DEFAULT_REST_W",
    "LIMITS_FILE",
    "POWER_FILE",
    "SIM_SPEED_ENV",
    "SIM_STATE_ENV",
    "SimLimitModel",
    "best_cap_w",
    "busy",
    "mark_busy",
    "read_limits",
    "workload_speed",
    "write_json_atomic",
]

SIM_STATE_ENV = "MLPOWER_SIM_GPU_STATE"  # a folder: the simulated GPUs' limits and latest power
SIM_SPEED_ENV = "MLPOWER_SIM_GPU_SPEED"  # a fraction in (0, 1]: the built-in benchmark's simulated speed
BUSY_FILE = "busy"  # its modification time: when the simulated workload last computed
BUSY_HOLD_NS = 500_000_000  # a mark this recent: the GPUs are busy
LIMITS_FILE = "limits.json"  # {"simulated": true, "limits_w": {uuid: watts}}
POWER_FILE = "power.json"  # {"simulated": true, "t_utc_ns": int, "idle_w": float, "power_w": {uuid: watts}}
DEFAULT_REST_W = 50.0


@dataclass(frozen=True)
class SimLimitModel:
    """One SIMULATED board's constants (see the module docstring for the formulas)."""

    idle_w: float = 20.0
    peak_w: float = 60.0
    min_cap_w: float = 30.0
    max_cap_w: float = 75.0  # the board's TDP: the default limit
    knee: float = 0.8  # the clock fraction above which throughput no longer grows

    def __post_init__(self) -> None:
        if not (0 <= self.idle_w < self.peak_w and self.idle_w < self.min_cap_w <= self.max_cap_w and self.knee > 0):
            raise ValueError(
                f"simulated limit model {self}: need 0 <= idle < peak, idle < min cap <= max cap, knee > 0"
            )

    @property
    def range_w(self) -> tuple[float, float]:
        return self.min_cap_w, self.max_cap_w

    def clock(self, cap_w: float, load: float = 1.0) -> float:
        """The sustained clock fraction ``f(C, u)`` under cap ``cap_w`` at load ``load``."""
        dynamic_w = (self.peak_w - self.idle_w) * min(1.0, max(0.0, load))
        if self.idle_w + dynamic_w <= cap_w:
            return 1.0
        return float(((cap_w - self.idle_w) / dynamic_w) ** (1.0 / 3.0))

    def power_w(self, cap_w: float, load: float = 1.0) -> float:
        """``P(C, u) = min(P_idle + dP x u, C)``."""
        return min(self.idle_w + (self.peak_w - self.idle_w) * min(1.0, max(0.0, load)), cap_w)

    def speed(self, cap_w: float) -> float:
        """Throughput under ``cap_w`` relative to the uncapped board at full load."""
        return min(1.0, self.clock(cap_w) / self.knee)

    def wall_w(self, cap_w: float, rest_w: float = DEFAULT_REST_W, gpus: int = 1) -> float:
        return rest_w + gpus * self.power_w(cap_w)

    def efficiency(self, cap_w: float, rest_w: float = DEFAULT_REST_W, gpus: int = 1) -> float:
        """Relative throughput per wall watt (1/W) under ``cap_w``."""
        return self.speed(cap_w) / self.wall_w(cap_w, rest_w, gpus)


DEFAULT_MODEL = SimLimitModel()


def best_cap_w(
    model: SimLimitModel = DEFAULT_MODEL,
    rest_w: float = DEFAULT_REST_W,
    gpus: int = 1,
    caps_w: Iterable[float] | None = None,
) -> float:
    """The model's own answer: the cap with the most throughput per wall watt (of ``caps_w``, where given)."""
    if caps_w is not None:
        candidates = list(caps_w)
        if not candidates:
            raise ValueError("best_cap_w: no caps to choose from")
        return float(max(candidates, key=lambda c: model.efficiency(c, rest_w, gpus)))
    dynamic_w = model.peak_w - model.idle_w
    f_star = float(((rest_w + gpus * model.idle_w) / (2 * gpus * dynamic_w)) ** (1.0 / 3.0))
    f_best = min(model.knee, f_star, 1.0)
    return min(model.max_cap_w, max(model.min_cap_w, model.idle_w + dynamic_w * f_best**3))


def write_json_atomic(path: Path, data: object, sync: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` so that a reader sees the old file or the new, never half of one (and,
    with ``sync``, so that it survives a crash of the machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_limits(state_dir: Path) -> dict[str, float]:
    """The SIMULATED GPUs' limits kept in ``state_dir`` by UUID (none yet: empty)."""
    try:
        data = json.loads((state_dir / LIMITS_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{state_dir / LIMITS_FILE}: unreadable SIMULATED GPU limits ({e}); delete it") from e
    return {str(k): float(v) for k, v in data.get("limits_w", {}).items()}


def workload_speed(environ: Mapping[str, str], model: SimLimitModel = DEFAULT_MODEL) -> float | None:
    """The SIMULATED speed factor a workload should run at: ``MLPOWER_SIM_GPU_SPEED`` where set, else the slowest
    simulated GPU's :meth:`SimLimitModel.speed` under the limits in ``MLPOWER_SIM_GPU_STATE``; None: full speed,
    nothing simulated."""
    text = environ.get(SIM_SPEED_ENV)
    if text:
        try:
            speed = float(text)
        except ValueError:
            speed = math.nan
        if not 0 < speed <= 1:
            raise ValueError(f"{SIM_SPEED_ENV}={text!r}: use a fraction in (0, 1]")
        return speed
    state = environ.get(SIM_STATE_ENV)
    if not state:
        return None
    limits = read_limits(Path(state))
    return min((model.speed(w) for w in limits.values()), default=1.0)


def mark_busy(state_dir: Path) -> None:
    """Say the SIMULATED GPUs in ``state_dir`` are computing now (the workload's side)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / BUSY_FILE).touch()


def busy(state_dir: Path, now_ns: int) -> bool:
    """Whether a workload marked the SIMULATED GPUs busy within :data:`BUSY_HOLD_NS` of ``now_ns``."""
    try:
        return now_ns - (state_dir / BUSY_FILE).stat().st_mtime_ns <= BUSY_HOLD_NS
    except FileNotFoundError:
        return False
