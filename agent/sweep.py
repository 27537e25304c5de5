"""``mlpower-agent sweep``: one measurement session per GPU power limit, and the efficiency frontier they draw.

In order: the limits a killed sweep left set are put back (the journal in ``--out``); every setting is checked
against every GPU's range before any session starts; the GPUs' original limits are recorded (the default the
answer compares with); then, per setting in the order given, the limit is set on every GPU inside the limit
guard (which journals the originals before any change and puts them back on exit), one full session (ranging
and testing) runs, and sweep.json in ``--out`` is rewritten atomically with the finished point. ``--resume``
keeps the finished points of an earlier sweep.json and runs the rest. At the end sweep.json gets the answer
(:mod:`analyzer.sweep`) and sweep.parquet and sweep.html are written beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.gpu.base import GpuInfo, GpuSource
from agent.gpu.errors import GpuLimitError
from agent.gpu_watch import GpuWatch
from agent.power_limits import LimitGuard, journal_path, restore_pending
from agent.run import SessionOutcome
from analyzer.sweep import SweepAnswer, SweepPoint, answer, point_from_obj, point_from_result, text_table
from analyzer.sweep_output import write_sweep_outputs
from powerlog.cli_support import write_json_atomic
from powerlog.errors import PowerlogError
from powerlog.json_record import read_json_file
from powerlog.layout import PHASE_DIRS
from powerlog.mllog import DetailLog, read_detail_log
from powerlog.wire import GivenRanges

__all__ = [
    "SWEEP_FILE",
    "SWEEP_FORMAT",
    "Sweep",
    "SweepOptions",
    "check_limits",
    "parse_limits",
    "run_sweep",
]

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = "mlpower-sweep-1"
Measure = Callable[[float, GivenRanges | None], SessionOutcome]  # one session at a limit (already set); with ranges,
# testing only on them


def parse_limits(text: str) -> tuple[float, ...]:
    """``--gpu-power-limit-w 300,350,400``: positive, finite, distinct watts, in the order given."""
    try:
        limits = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--gpu-power-limit-w {text!r}: give watts separated by commas, e.g. 300,350,400") from None
    if not limits or any(not math.isfinite(w) or w <= 0 for w in limits):
        raise ValueError(f"--gpu-power-limit-w {text!r}: every limit must be a positive number of watts")
    if len(set(limits)) != len(limits):
        raise ValueError(f"--gpu-power-limit-w {text!r}: a limit is given twice")
    return limits


def check_limits(control: GpuSource, gpus: Sequence[GpuInfo], limits_w: Sequence[float]) -> None:
    """Every setting within every GPU's range (:class:`GpuLimitError` naming them), and this process allowed to set
    limits (:class:`~agent.gpu.errors.GpuPermissionError`: each GPU's own limit is set again, which changes nothing),
    before any session starts."""
    for g in gpus:
        low_w, high_w = control.power_limit_range_w(g.index)
        outside = [w for w in limits_w if not low_w <= w <= high_w]
        if outside:
            raise GpuLimitError(
                g.index,
                f"--gpu-power-limit-w {', '.join(f'{w:g}' for w in outside)} W outside this GPU's range "
                f"{low_w:g}-{high_w:g} W ({g.name}); give limits within it",
                (low_w, high_w),
            )
        control.set_power_limit_w(g.index, control.power_limit_w(g.index))


@dataclass(frozen=True)
class SweepOptions:
    limits_w: tuple[float, ...]
    out_dir: Path
    resume: bool = False
    gpus_spec: str = ""  # as given (--gpus), for the record
    testing_only: bool = False  # the first setting measured in full, the rest on its testing ranges: not submittable


@dataclass
class Sweep:
    """sweep.json's content: the settings, the GPUs' original limits, the finished points, then the answer."""

    options: SweepOptions
    original_limits_w: dict[int, float]
    points: list[SweepPoint]
    result: SweepAnswer | None = None

    @property
    def default_limit_w(self) -> float | None:
        """The GPUs' original limit when they all had the same one; None else (no single default to compare)."""
        values = set(self.original_limits_w.values())
        return values.pop() if len(values) == 1 else None

    def to_obj(self) -> dict[str, Any]:
        return {
            "format": SWEEP_FORMAT,
            "settings_w": list(self.options.limits_w),
            "gpus": self.options.gpus_spec,
            "original_limits_w": {str(i): w for i, w in sorted(self.original_limits_w.items())},
            "default_limit_w": self.default_limit_w,
            "points": [p.to_obj() for p in self.points],
            "answer": None if self.result is None else self.result.to_obj(),
        }

    def write(self) -> None:
        write_json_atomic(self.options.out_dir / SWEEP_FILE, self.to_obj())


def _earlier(options: SweepOptions) -> tuple[dict[int, float], list[SweepPoint]] | None:
    """An earlier sweep.json's original limits and finished points (None: no sweep.json)."""
    path = options.out_dir / SWEEP_FILE
    if not path.exists():
        return None
    if not options.resume:
        raise AgentError(f"{path} exists: give --resume to finish that sweep, or another --out for a new one")
    try:
        obj = read_json_file(path)
        if not isinstance(obj, dict) or obj.get("format") != SWEEP_FORMAT:
            raise ValueError(f"not an {SWEEP_FORMAT} file")
        originals = {int(i): float(w) for i, w in obj["original_limits_w"].items()}
        return originals, [point_from_obj(p) for p in obj["points"]]
    except (PowerlogError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise AgentError(f"--resume: {path} cannot be read ({e}); move it away to start the sweep again") from e


def _detail(outcome: SessionOutcome) -> DetailLog | None:
    try:
        return read_detail_log(outcome.local_folder / PHASE_DIRS["testing"] / "mlperf_log_detail.txt")
    except PowerlogError:
        return None


def run_sweep(
    options: SweepOptions,
    control: GpuSource,
    measure: Measure,
    say: Callable[[str], None] = print,
) -> Sweep:
    """The sweep (see the module's docstring); ``control`` is opened and closed here, ``measure`` runs one
    session at the limit the guard has set."""
    options.out_dir.mkdir(parents=True, exist_ok=True)
    journal = journal_path(options.out_dir)
    earlier = _earlier(options)
    gpus = list(control.open())
    try:
        for line in restore_pending(journal, control, gpus):
            say(line)
        check_limits(control, gpus, options.limits_w)
        originals = {g.index: control.power_limit_w(g.index) for g in gpus}
        sweep = Sweep(options, originals, [])
        if earlier is not None:
            sweep.original_limits_w, kept = earlier
            sweep.points = [p for p in kept if p.limit_w in options.limits_w]
            say(f"--resume: {len(sweep.points)} setting(s) already measured: "
                f"{', '.join(f'{p.limit_w:g} W' for p in sweep.points) or 'none'}")  # fmt: skip
        done = {p.limit_w for p in sweep.points}
        sweep.write()
        reused: GivenRanges | None = None  # testing only: the first full setting's testing ranges
        for watts in options.limits_w:
            if watts in done:
                continue
            say(f"sweep: power limit {watts:g} W on GPU(s) {', '.join(str(g.index) for g in gpus)}")
            with LimitGuard(control, watts, journal, infos=gpus, note=say), GpuWatch(control, gpus) as watch:
                outcome = measure(watts, reused)
            point = point_from_result(
                watts,
                outcome.result,
                _detail(outcome),
                session_id=outcome.session.session_id,
                local_folder=str(outcome.local_folder),
                submittable=reused is None,
            )
            point = replace(point, gpu_clock_mhz=watch.mean_clock_mhz, gpu_temperature_c=watch.max_temperature_c)
            if options.testing_only and reused is None:
                reused = outcome.testing_ranges
                if reused is None:
                    say("--testing-only: the first setting tested on Auto ranges; every setting gets its own ranging")
            sweep.points.append(point)
            sweep.write()  # a finished point survives whatever happens to the next
    finally:
        control.close()
    sweep.points.sort(key=lambda p: options.limits_w.index(p.limit_w))
    sweep.result = answer(sweep.points, sweep.default_limit_w)
    sweep.write()
    write_sweep_outputs(options.out_dir, sweep.points, sweep.result, options.out_dir.name)
    say(text_table(sweep.points, sweep.result))
    return sweep
