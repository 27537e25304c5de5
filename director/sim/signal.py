"""What the simulated analyzer measures: a load signal turned into plausible electrical readings.

A signal gives total watts at a UTC time; :class:`Electrical` turns watts into
volts, power factor and amps (amps = W / (V x PF)) with seeded noise, so the
readings look like a real mains supply.

``sim-gpus:FOLDER[,REST_W]`` (:class:`SimulatedGpuSignal`) couples the simulated wall meter to the agent's
SIMULATED GPUs: the rest of the system (a constant) plus the power the simulated GPUs last wrote to
``FOLDER/power.json`` (``MLPOWER_SIM_GPU_STATE`` on the agent's side: ``agent.gpu.sim_limit_model``), so a
simulated power limit shows at the simulated wall. Nothing outside the simulators reads or writes that file.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from director.errors import MeterConfigError
from powerlog.host import CpuUtilisation

__all__ = [
    "ConstantSignal",
    "CsvSignal",
    "Electrical",
    "HostLoadSignal",
    "Reading",
    "Signal",
    "SimulatedGpuSignal",
    "UtcProfileSignal",
    "parse_signal",
]

NS_PER_S = 1_000_000_000


class Signal(Protocol):
    @property
    def description(self) -> str: ...

    def power_w(self, t_utc_ns: int) -> float: ...


@dataclass
class ConstantSignal:
    watts: float

    @property
    def description(self) -> str:
        return f"constant {self.watts:g} W"

    def power_w(self, t_utc_ns: int) -> float:
        return self.watts


class CsvSignal:
    """Replays a profile of ``seconds,watts`` rows (linear in between, repeating), from the first call on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"profile {path}"
        self._t_s, self._w = self._load(path)
        self._start_ns: int | None = None

    @staticmethod
    def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
        rows: list[tuple[float, float]] = []
        try:
            with path.open(newline="") as f:
                for line_number, row in enumerate(csv.reader(f), start=1):
                    if not row or row[0].strip().startswith("#"):
                        continue
                    try:
                        rows.append((float(row[0]), float(row[1])))
                    except (ValueError, IndexError):
                        if line_number == 1:
                            continue  # a header
                        raise MeterConfigError(f"{path}:{line_number}: expected 'seconds,watts', got {row!r}") from None
        except OSError as e:
            raise MeterConfigError(f"{path}: cannot read the signal profile: {e.strerror or e}") from e
        if len(rows) < 1:
            raise MeterConfigError(f"{path}: the signal profile has no 'seconds,watts' rows")
        rows.sort()
        t_s, w = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        if (w < 0).any():
            raise MeterConfigError(f"{path}: watts must not be negative")
        return t_s, w

    def power_w(self, t_utc_ns: int) -> float:
        if self._start_ns is None:
            self._start_ns = t_utc_ns
        elapsed_s = (t_utc_ns - self._start_ns) / NS_PER_S
        period_s = float(self._t_s[-1] - self._t_s[0])
        if period_s > 0:
            elapsed_s = self._t_s[0] + (elapsed_s % period_s)
        return float(np.interp(elapsed_s, self._t_s, self._w))


class HostLoadSignal:
    """Watts = idle + span x CPU utilisation of this machine, so a benchmark shows up in the readings."""

    def __init__(self, idle_w: float = 150.0, span_w: float = 150.0, stat_path: Path = Path("/proc/stat")) -> None:
        self.idle_w = idle_w
        self.span_w = span_w
        self.description = f"host load: {idle_w:g} W idle + {span_w:g} W x CPU utilisation"
        self.utilisation = CpuUtilisation(stat_path)

    def power_w(self, t_utc_ns: int) -> float:
        return self.idle_w + self.span_w * self.utilisation()


class UtcProfileSignal:
    """Watts that depend on UTC time alone: ``base_w + span_w x load(t)``, the load a smooth random profile through
    knots every ``knot_s`` seconds of UTC (heights in [0, 1) drawn from ``seed`` and the knot's number, joined by
    half cosines). Any process that knows the four numbers computes the same load at the same instant: a simulated
    wall meter and simulated GPUs following one profile (the calibration test) need no channel between them."""

    def __init__(self, base_w: float, span_w: float, knot_s: float = 2.0, seed: int = 0) -> None:
        if not (base_w >= 0 and span_w >= 0 and knot_s > 0):
            raise MeterConfigError("utc-profile: BASE and SPAN must not be negative and KNOT_S must be positive")
        self.base_w, self.span_w, self.knot_s, self.seed = base_w, span_w, knot_s, seed
        self.description = f"UTC profile: {base_w:g} W + {span_w:g} W x a random load, knots every {knot_s:g} s"

    def _height(self, knot: int) -> float:
        """A splitmix64 hash of (seed, knot) as a number in [0, 1)."""
        z = (self.seed * 0x9E3779B97F4A7C15 + knot * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return ((z ^ (z >> 31)) >> 11) / float(1 << 53)

    def load(self, t_utc_ns: int) -> float:
        position = t_utc_ns / (self.knot_s * NS_PER_S)
        knot = math.floor(position)
        blend = (1.0 - math.cos(math.pi * (position - knot))) / 2
        return self._height(knot) * (1.0 - blend) + self._height(knot + 1) * blend

    def power_w(self, t_utc_ns: int) -> float:
        return self.base_w + self.span_w * self.load(t_utc_ns)


class SimulatedGpuSignal:
    """Watts = ``rest_w`` + the SIMULATED GPUs' power in ``folder/power.json`` (``{"t_utc_ns": ..., "idle_w": ...,
    "power_w": {uuid: watts}}``, written by the agent's simulated GPUs while they are sampled). A file older than
    ``stale_s`` (the agent not sampling) counts each GPU at its idle power; no file yet: the rest alone."""

    def __init__(self, folder: Path, rest_w: float = 50.0, stale_s: float = 2.0) -> None:
        if rest_w < 0:
            raise MeterConfigError("sim-gpus: REST_W must not be negative")
        self.folder, self.rest_w, self.stale_s = folder, rest_w, stale_s
        self.description = f"{rest_w:g} W + the SIMULATED GPUs' power in {folder / 'power.json'}"

    def gpus_w(self, t_utc_ns: int) -> float:
        try:
            data = json.loads((self.folder / "power.json").read_text())
            watts = [float(w) for w in data["power_w"].values()]
            if t_utc_ns - int(data["t_utc_ns"]) > self.stale_s * NS_PER_S:
                return float(data["idle_w"]) * len(watts)
            return sum(watts)
        except FileNotFoundError:
            return 0.0
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise MeterConfigError(f"{self.folder / 'power.json'}: not a simulated GPU power file ({e})") from e

    def power_w(self, t_utc_ns: int) -> float:
        return self.rest_w + self.gpus_w(t_utc_ns)


@dataclass(frozen=True)
class Reading:
    power_w: float
    volts_v: float
    amps_a: float
    pf: float


class Electrical:
    """Mains around ``nominal_v``; PF rises with load; seeded noise (1 % on watts by default)."""

    def __init__(self, nominal_v: float = 230.0, noise: float = 0.01, seed: int = 0, dc: bool = False) -> None:
        self.nominal_v = nominal_v
        self.noise = noise
        self.dc = dc
        self._rng = random.Random(seed)

    def reading(self, power_w: float) -> Reading:
        watts = max(0.0, power_w * (1.0 + self._rng.gauss(0.0, self.noise))) if self.noise else max(0.0, power_w)
        volts = self.nominal_v * (1.0 + self._rng.gauss(0.0, 0.002)) if self.noise else self.nominal_v
        pf = 1.0 if self.dc else min(0.99, 0.55 + 0.45 * min(1.0, watts / 400.0))
        amps = watts / (volts * pf) if volts > 0 else 0.0
        return Reading(watts, volts, amps, pf)


def parse_signal(spec: str) -> Signal:
    """``host-load``, ``constant:WATTS``, ``csv:PATH``, ``utc-profile:BASE,SPAN[,KNOT_S[,SEED]]`` or
    ``sim-gpus:FOLDER[,REST_W]``."""
    kind, _, arg = spec.partition(":")
    if kind == "host-load" and not arg:
        return HostLoadSignal()
    if kind == "constant":
        try:
            watts = float(arg)
        except ValueError:
            raise MeterConfigError(f"--signal constant:WATTS needs a number, got {arg!r}") from None
        if watts < 0:
            raise MeterConfigError("--signal constant:WATTS must not be negative")
        return ConstantSignal(watts)
    if kind == "csv" and arg:
        return CsvSignal(Path(arg))
    if kind == "utc-profile" and arg:
        return _utc_profile(arg)
    if kind == "sim-gpus" and arg:
        folder, _, rest = arg.partition(",")
        try:
            return SimulatedGpuSignal(Path(folder), float(rest) if rest else 50.0)
        except ValueError:
            raise MeterConfigError(f"--signal sim-gpus:FOLDER[,REST_W] needs a number of watts, got {rest!r}") from None
    raise MeterConfigError(
        f"unknown signal {spec!r}: use host-load, constant:WATTS, csv:PATH, utc-profile:BASE,SPAN[,KNOT_S[,SEED]] "
        "or sim-gpus:FOLDER[,REST_W]"
    )


def _utc_profile(arg: str) -> UtcProfileSignal:
    parts = arg.split(",")
    try:
        if not 2 <= len(parts) <= 4:
            raise ValueError
        base_w, span_w = float(parts[0]), float(parts[1])
        knot_s = float(parts[2]) if len(parts) > 2 else 2.0
        seed = int(parts[3]) if len(parts) == 4 else 0
    except ValueError:
        raise MeterConfigError(f"--signal utc-profile:BASE,SPAN[,KNOT_S[,SEED]] needs numbers, got {arg!r}") from None
    return UtcProfileSignal(base_w, span_w, knot_s, seed)
