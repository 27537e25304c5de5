#!/usr/bin/env bash
# Real-GPU check for a machine with NVIDIA GPUs (the device machine): sample every GPU through
# NVML at 100 Hz for 20 s while a matrix-multiply load runs on the GPUs for the middle 10 s, then
# print per GPU: counter energy, integrated instant power, their difference, the observed update
# period of the power field, and the sampler's CPU time. Needs no network; finishes in under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" - <<'PYEOF'
import threading
import time

import numpy as np

from agent.gpu.errors import NvmlUnavailable
from agent.gpu.nvml import NvmlGpus

SECONDS, LOAD_FROM_S, LOAD_TO_S, RATE_HZ = 20.0, 5.0, 15.0, 100.0


def gpu_load(stop: threading.Event) -> str:
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
        mats = [torch.randn(8192, 8192, device=d) for d in devices]
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


gpus = NvmlGpus()
try:
    infos = gpus.open()
except NvmlUnavailable as e:
    raise SystemExit(f"gpu_check: {e}")
for event in gpus.take_events():
    print("note:", event)
power = {i.index: [] for i in infos}
energy = {i.index: [] for i in infos}
stop = threading.Event()
load_result = {}
loader = threading.Thread(target=lambda: load_result.setdefault("what", gpu_load(stop)))
cpu0, t0 = time.process_time(), time.monotonic()
k = 0
started = False
for r in gpus.read_energy():
    energy[r.gpu_index].append((r.t_utc_ns, r.energy_j))
while (elapsed := time.monotonic() - t0) < SECONDS:
    if not started and elapsed >= LOAD_FROM_S:
        loader.start()
        started = True
    if started and elapsed >= LOAD_TO_S:
        stop.set()
    for r in gpus.read_power():
        power[r.gpu_index].append((r.t_utc_ns, r.power_w))
    k += 1
    if k % int(RATE_HZ) == 0:
        for r in gpus.read_energy():
            energy[r.gpu_index].append((r.t_utc_ns, r.energy_j))
    time.sleep(max(0.0, t0 + k / RATE_HZ - time.monotonic()))
for r in gpus.read_energy():
    energy[r.gpu_index].append((r.t_utc_ns, r.energy_j))
cpu_s = time.process_time() - cpu0
stop.set()
loader.join()
for event in gpus.take_events():
    print("note:", event)
gpus.close()
print(f"load: {load_result.get('what')}; sampler CPU time {cpu_s:.2f} s over {SECONDS:g} s "
      f"({100 * cpu_s / SECONDS:.2f} % of one core, including the load thread's Python)")
for info in infos:
    e = np.array(energy[info.index])
    p = np.array(power[info.index])
    print(f"GPU {info.index} {info.name} (field {info.power_field}, counter {'yes' if info.energy_counter else 'no'})")
    if len(p) < 2:
        print("  too few power readings")
        continue
    t_p, w = p[:, 0], p[:, 1]
    period_ms = float(np.median(np.diff(t_p))) / 1e6
    if len(e) >= 2:
        begin, end = e[0, 0], e[-1, 0]
        counter_j = e[-1, 1] - e[0, 1]
        inside = (t_p >= begin) & (t_p <= end)
        integrated_j = float(np.trapezoid(w[inside], t_p[inside] / 1e9))
        diff = 100 * (integrated_j - counter_j) / counter_j if counter_j else float("nan")
        print(f"  counter {counter_j:.1f} J, integrated instant power {integrated_j:.1f} J, difference {diff:+.2f} %")
    print(f"  {len(p)} distinct power readings, update period {period_ms:.1f} ms (median), "
          f"{w.min():.1f}..{w.max():.1f} W")
PYEOF
