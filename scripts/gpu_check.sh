#!/usr/bin/env bash
# Real-GPU check (issue #32, item 4) for a machine with NVIDIA GPUs (the device machine): samples every GPU through
# NVML at 100 Hz for GPU_CHECK_SECONDS (default 12) while a matrix-multiply load (torch or cupy) runs in the middle
# half, then prints one PASS / FAIL / INFO line per check and GPU:
#   describe      what the power readings are (instant or NVML's 1 s average) and what they and the counter cover
#   counter       the energy counter exists, never goes back (reset/wrap), keeps moving (not stuck)
#   power         the power readings are not all 0 W
#   agreement     counter energy vs integrated power, both figures (beyond 5 %: FAIL, a measured finding)
#   analyzer      analyzer.gpu finds no fault in the readings; the agent's live watch raised no event
#   usage-kind    nvmlDeviceGetPowerUsage follows the averaged or the instant field, as the agent claims
#   scope         the counter follows the GPU-scope or the module-scope power, as the agent claims
#   limit         the power limit and its range read (issue #34); with GPU_CHECK_SET_LIMIT=1, as root (or on
#                 simulated GPUs), the minimum set for 2 s through agent.power_limits.LimitGuard and put back
# and the update periods and the sampler's CPU time (INFO). Last line: "gpu_check: N PASS, M FAIL" (exit 1 on
# a FAIL, 2 without NVML). No network; about GPU_CHECK_SECONDS + 10 s.
# `scripts/gpu_check.sh --simulated[=SPEC]` runs the same checks on simulated GPUs (SPEC as --gpus, default
# sim:2; e.g. sim:2+stuck@1:1 must FAIL), to check this script where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" - "$@" <<'PYEOF'
import os
import sys
import threading
import time

import numpy as np

from agent.gpu.errors import GpuError, NvmlUnavailable
from agent.gpu.nvml import NvmlGpus, field_watts, usage_power_kind
from agent.gpu.select import open_gpus
from agent.gpu.watch import GpuWatch
from analyzer.gpu import DISAGREEMENT_WARN_PCT, GpuSeries, counter_track, describe_gpus, gpu_window

SECONDS = float(os.environ.get("GPU_CHECK_SECONDS", "12"))
RATE_HZ, EXTRA_EVERY, ENERGY_EVERY = 100.0, 5, 10  # NVML extras at 20 Hz, the counter at 10 Hz
counts = {"PASS": 0, "FAIL": 0}


def say(verdict: str, gpu: int, check: str, text: str) -> None:
    counts[verdict] = counts.get(verdict, 0) + 1
    print(f"{verdict:4s} GPU {gpu} {check}: {text}", flush=True)


def gpu_load(stop: threading.Event) -> str:
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        mats = [torch.randn(8192, 8192, device=f"cuda:{i}") for i in range(torch.cuda.device_count())]
        while not stop.is_set():
            for m in mats:
                m @ m
            torch.cuda.synchronize()
        return "torch matmul 8192x8192 on every GPU"
    try:
        import cupy
    except ImportError:
        stop.wait()
        return "no GPU load library (torch or cupy): sampled idle"
    m = cupy.random.randn(8192, 8192, dtype=cupy.float32)
    while not stop.is_set():
        m @ m
        cupy.cuda.Stream.null.synchronize()
    return "cupy matmul 8192x8192 on GPU 0"


class Extras:
    """NVML readings beside the agent's: nvmlDeviceGetPowerUsage, and the instant (GPU, module) and averaged fields."""

    def __init__(self, gpus: NvmlGpus) -> None:
        import pynvml

        self.nvml, self.handles = pynvml, gpus.handles
        self.arch = {i: NvmlGpus.architecture(h) for i, h in self.handles.items()}
        self.fields = {
            "instant": (pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_POWER_SCOPE_GPU),
            "module": (pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_POWER_SCOPE_MODULE),
            "average": (pynvml.NVML_FI_DEV_POWER_AVERAGE, pynvml.NVML_POWER_SCOPE_GPU),
        }
        self.rows = {i: [] for i in self.handles}  # (t_ns, usage, instant, module, average) in W, NaN: unsupported

    def read(self) -> None:
        pynvml = self.nvml
        for i, h in self.handles.items():
            row = [float(time.time_ns())]
            try:
                row.append(pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
            except pynvml.NVMLError:
                row.append(np.nan)
            for v in pynvml.nvmlDeviceGetFieldValues(h, list(self.fields.values())):
                watts = field_watts(v)
                row.append(np.nan if watts is None else watts)
            self.rows[i].append(row)


def sample(source, extras):
    """Power, counter and extras for SECONDS, the load in the middle half; the readings and the sampler's CPU s."""
    power, energy = [], list(source.read_energy())
    watch = GpuWatch()
    watch.energy(energy)
    stop, result = threading.Event(), {}
    loader = threading.Thread(target=lambda: result.setdefault("what", gpu_load(stop)))
    cpu0, t0, k, started = time.process_time(), time.monotonic(), 0, False
    while (elapsed := time.monotonic() - t0) < SECONDS:
        if not started and elapsed >= SECONDS / 4:
            loader.start()
            started = True
        if started and elapsed >= 3 * SECONDS / 4:
            stop.set()
        readings = source.read_power()
        watch.power(readings)
        power += readings
        k += 1
        if k % ENERGY_EVERY == 0:
            counters = source.read_energy()
            watch.energy(counters)
            energy += counters
        if extras is not None and k % EXTRA_EVERY == 0:
            extras.read()
        time.sleep(max(0.0, t0 + k / RATE_HZ - time.monotonic()))
    counters = source.read_energy()
    watch.energy(counters)
    energy += counters
    cpu_s = time.process_time() - cpu0
    stop.set()
    if started:
        loader.join()
    return power, energy, watch.take_events(), cpu_s, result.get("what", "no load (simulated GPUs follow the CPU)")


def check_describe(info) -> None:
    ok = info.power_kind in ("instant", "average") and info.power_scope in ("gpu", "module")
    ok = ok and (info.energy_scope in ("gpu", "module")) == info.energy_counter
    say("PASS" if ok else "FAIL", info.index, "describe",
        f"{info.name}: power field {info.power_field}, readings {info.power_kind} at {info.power_scope} scope, "
        f"energy counter {'covers the ' + str(info.energy_scope) if info.energy_counter else 'absent'}")


def check_series(info, s: GpuSeries, events: list[str]) -> None:
    i = info.index
    if not info.energy_counter or not len(s.energy_t_ns):
        say("FAIL", i, "counter", "no energy counter readings: energy would come from integrated power")
    else:
        track = counter_track(s)
        back = [e for e in track.events if e.fault in ("counter-reset", "counter-wrap")]
        stuck = [e for e in track.events if e.fault == "counter-stuck"]
        moved = float(track.running_j[-1])
        say("FAIL" if back else "PASS", i, "counter", f"{len(back)} backward step(s) in {len(s.energy_t_ns)} readings")
        say("FAIL" if stuck or moved <= 0 else "PASS", i, "counter",
            f"moved {moved:.1f} J; {len(stuck)} stuck stretch(es) of {2:g} s or more with power above 5 W")
        changes = np.diff(s.energy_t_ns[np.flatnonzero(np.diff(s.energy_j)) + 1])
        if len(changes):
            print(f"INFO GPU {i} counter: changes seen every {np.median(changes) / 1e6:.0f} ms (median; read every "
                  f"{1000 * ENERGY_EVERY / RATE_HZ:.0f} ms)")
    zeros = int(np.sum(s.power_w == 0))
    say("PASS" if len(s.power_w) and not zeros else "FAIL", i, "power", f"{len(s.power_w)} distinct readings ({zeros} of 0 W), "
        f"{np.min(s.power_w) if len(s.power_w) else 0:.1f}..{np.max(s.power_w) if len(s.power_w) else 0:.1f} W"
        + (f", update period {np.median(np.diff(s.power_t_ns)) / 1e6:.1f} ms (median)" if len(s.power_w) > 1 else ""))
    span = s.energy_t_ns if len(s.energy_t_ns) > 1 else s.power_t_ns
    if len(span) < 2:
        return
    w = gpu_window(s, int(span.min()), int(span.max()))
    if w.counter_energy_j is not None and w.integrated_energy_j is not None and w.disagreement_pct is not None:
        say("PASS" if abs(w.disagreement_pct) <= DISAGREEMENT_WARN_PCT else "FAIL", i, "agreement",
            f"counter {w.counter_energy_j:.1f} J, integrated {info.power_kind} power {w.integrated_energy_j:.1f} J, "
            f"difference {w.disagreement_pct:+.2f} % (limit {DISAGREEMENT_WARN_PCT:g} %)")
    faults = [x for x in w.warnings if not x.startswith(("counter-vs-power", "module-scope"))]
    say("FAIL" if w.faults else "PASS", i, "analyzer",
        f"faults {list(w.faults) or 'none'}; "
        + (f"energy from the {w.energy_from}, scope {w.scope}" if w.energy_from else "no energy figure")
        + (f"; {' | '.join(faults)}" if faults else ""))
    mine = [e for e in events if e.startswith(f"GPU {i}:")]
    say("FAIL" if mine else "PASS", i, "analyzer", f"live watch: {' | '.join(mine) if mine else 'no event'}")


def check_extras(info, extras: Extras, s: GpuSeries) -> None:
    i = info.index
    rows = np.array(extras.rows[i], dtype=np.float64)
    if not len(rows):
        return
    usage, instant, module, average = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]
    name = info.name
    claimed = usage_power_kind(extras.arch[i], name)
    if np.isnan(usage).all() or np.isnan(instant).all() or np.isnan(average).all():
        print(f"INFO GPU {i} usage-kind: usage, instant or average unsupported: not compared (claimed {claimed})")
    else:
        to_avg = float(np.sqrt(np.nanmean((usage - average) ** 2)))
        to_inst = float(np.sqrt(np.nanmean((usage - instant) ** 2)))
        seen = "average" if to_avg < to_inst else "instant"
        clear = abs(to_avg - to_inst) > 0.1 * max(to_avg, to_inst, 1e-9)
        verdict = ("PASS" if seen == claimed else "FAIL") if clear else "INFO"
        say(verdict, i, "usage-kind", f"nvmlDeviceGetPowerUsage is {to_avg:.1f} W RMS from the averaged field, "
            f"{to_inst:.1f} W from the instant one: it behaves as {seen}{'' if clear else ' (not clearly)'}; "
            f"claimed {claimed} (architecture {extras.arch[i]})")
    counter_w = None
    if len(s.energy_t_ns) > 1:
        w = gpu_window(s, int(s.energy_t_ns.min()), int(s.energy_t_ns.max()))
        counter_w = w.counter_energy_j / ((s.energy_t_ns.max() - s.energy_t_ns.min()) / 1e9) if w.counter_energy_j else None
    gpu_w, module_w = float(np.nanmean(instant)), float(np.nanmean(module)) if not np.isnan(module).all() else None
    if counter_w is None:
        print(f"INFO GPU {i} scope: no counter to compare")
    elif module_w is None:
        verdict = "PASS" if info.energy_scope == "gpu" else "FAIL"
        say(verdict, i, "scope", f"module-scope field unsupported; counter {counter_w:.1f} W vs GPU-scope power "
            f"{gpu_w:.1f} W; claimed counter scope {info.energy_scope}")
    else:
        seen = "module" if abs(counter_w - module_w) < abs(counter_w - gpu_w) else "gpu"
        clear = abs(module_w - gpu_w) > 0.05 * gpu_w
        verdict = ("PASS" if seen == info.energy_scope else "FAIL") if clear else "INFO"
        say(verdict, i, "scope", f"counter {counter_w:.1f} W, GPU-scope power {gpu_w:.1f} W, module-scope "
            f"{module_w:.1f} W: the counter follows the {seen}{'' if clear else ' (the two scopes read alike)'}; "
            f"claimed {info.energy_scope}")


def check_limit(source, info, simulated: bool) -> None:
    """Read the limit and range; where asked (and allowed), set the minimum for 2 s and check it was put back."""
    import tempfile
    from pathlib import Path

    from agent.power_limits import LimitGuard

    i = info.index
    try:
        limit_w, (low_w, high_w) = source.power_limit_w(i), source.power_limit_range_w(i)
    except GpuError as e:
        say("FAIL", i, "limit", f"cannot read the power limit or its range: {e}")
        return
    say("PASS" if low_w <= limit_w <= high_w and low_w < high_w else "FAIL", i, "limit",
        f"power limit {limit_w:g} W, range {low_w:g}-{high_w:g} W")
    if os.environ.get("GPU_CHECK_SET_LIMIT") != "1":
        print(f"INFO GPU {i} limit: not set (GPU_CHECK_SET_LIMIT=1, as root, sets the minimum for 2 s)")
        return
    if not simulated and os.geteuid() != 0:
        print(f"INFO GPU {i} limit: not root: the limit is not set")
        return
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / "power_limits.journal.json"
        try:
            with LimitGuard(source, {i: low_w}, journal, infos=[info]):
                time.sleep(2.0)
                held_w = source.power_limit_w(i)
        except GpuError as e:
            say("FAIL", i, "limit", f"setting {low_w:g} W failed: {e}")
            return
        back_w = source.power_limit_w(i)
        say("PASS" if abs(held_w - low_w) <= 0.5 else "FAIL", i, "limit", f"set to {low_w:g} W: read {held_w:g} W")
        ok = abs(back_w - limit_w) <= 0.5 and not journal.exists()
        say("PASS" if ok else "FAIL", i, "limit", f"put back: {back_w:g} W (was {limit_w:g} W), journal removed")


def main(argv: list[str]) -> int:
    simulated = next((a for a in argv if a.startswith("--simulated")), None)
    if simulated is not None:
        source = open_gpus(simulated.partition("=")[2] or "sim:2")
    else:
        source = NvmlGpus()
    try:
        infos = source.open()
    except NvmlUnavailable as e:
        print(f"FAIL gpu_check: {e}")
        return 2
    for event in source.take_events():
        print("note:", event)
    extras = Extras(source) if isinstance(source, NvmlGpus) else None
    power, energy, events, cpu_s, load = sample(source, extras)
    for event in source.take_events():
        print("note:", event)
    for info in infos:
        check_limit(source, info, simulated is not None)
    source.close()
    print(f"INFO load: {load}; sampler CPU time {cpu_s:.2f} s over {SECONDS:g} s ({100 * cpu_s / SECONDS:.2f} % of "
          "one core, the load thread's Python included)")
    series = []
    for info in infos:
        p = [r for r in power if r.gpu_index == info.index]
        e = [r for r in energy if r.gpu_index == info.index]
        series.append(GpuSeries(info.index, np.array([r.t_utc_ns for r in p], dtype=np.int64),
                                np.array([r.power_w for r in p]), np.array([r.t_utc_ns for r in e], dtype=np.int64),
                                np.array([r.energy_j for r in e])))
    series = describe_gpus(series, [i.to_wire() for i in infos])
    for info, s in zip(infos, series):
        check_describe(info)
        check_series(info, s, events)
        if extras is not None:
            check_extras(info, extras, s)
    print(f"gpu_check: {counts['PASS']} PASS, {counts['FAIL']} FAIL{' (SIMULATED GPUs)' if simulated else ''}")
    return 1 if counts["FAIL"] else 0


sys.exit(main(sys.argv[1:]))
PYEOF
