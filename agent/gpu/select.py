"""``--gpus``: which GPU source the agent samples."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agent.gpu.base import GpuSource
from agent.gpu.errors import NvmlUnavailable
from agent.gpu.nvml import NvmlGpus
from agent.gpu.sim_limit_model import SIM_STATE_ENV
from agent.gpu.simulated import FAULT_KINDS, SimulatedFault, SimulatedGpus

__all__ = ["GPU_SPECS", "open_gpus", "simulated_faults"]

GPU_SPECS = "auto, nvml, nvml:0,2, sim:N (faults for tests: sim:N+KIND@GPU:SECONDS...) or none"


def simulated_faults(text: str) -> list[SimulatedFault]:
    """``+KIND@GPU:SECONDS`` parts (``sim:2+reset@0:3+stuck@1:2``): GPU GPU shows KIND from SECONDS after it is
    opened; a ``reset`` is repeated every SECONDS, so that it falls in every phase of a run."""
    faults = []
    for part in filter(None, text.split("+")):
        kind, _, where = part.partition("@")
        gpu, _, after = where.partition(":")
        try:
            after_s = float(after or 0)
            every_s = after_s if kind == "reset" and after_s > 0 else None
            faults.append(SimulatedFault(kind, int(gpu or 0), after_s, every_s))
        except ValueError as e:
            raise ValueError(
                f"--gpus fault {part!r}: use KIND@GPU:SECONDS, KIND one of {', '.join(FAULT_KINDS)} ({e})"
            ) from e
    return faults


def open_gpus(spec: str | None, note: Callable[[str], None] | None = None) -> GpuSource | None:
    """The source for a ``--gpus`` value (not opened yet). ``auto`` probes NVML once: the real GPUs, or none
    where NVML (an NVIDIA driver) is absent, said through ``note``; simulated GPUs only when asked (``sim:N``), their
    limits kept in the folder ``MLPOWER_SIM_GPU_STATE`` names where it is set."""
    spec = (spec or "auto").strip()
    if spec == "none":
        return None
    if spec == "auto":
        probe = NvmlGpus()
        try:
            probe.open()
        except NvmlUnavailable as e:
            if note is not None:
                note(f"--gpus auto: no NVIDIA GPU here ({e}); no GPU readings (--gpus sim:N simulates GPUs)")
            return None
        finally:
            probe.close()
        return NvmlGpus()
    if spec == "nvml":
        return NvmlGpus()
    kind, _, arg = spec.partition(":")
    count, _, faults = arg.partition("+")
    if kind == "sim" and count.isdigit():  # a wrong count or fault raises its own error
        state = os.environ.get(SIM_STATE_ENV)  # the simulated GPUs' limits, shared with other processes
        return SimulatedGpus(int(count), faults=simulated_faults(faults), state_dir=Path(state) if state else None)
    try:
        if kind == "nvml" and arg:
            return NvmlGpus([int(x) for x in arg.split(",")])
    except ValueError:
        pass
    raise ValueError(f"--gpus {spec!r}: use {GPU_SPECS}")
