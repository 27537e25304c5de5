"""``--gpus``: which GPU source the agent samples."""

from __future__ import annotations

from collections.abc import Callable

from agent.gpu.base import GpuSource
from agent.gpu.errors import NvmlUnavailable
from agent.gpu.nvml import NvmlGpus
from agent.gpu.simulated import SimulatedGpus

__all__ = ["GPU_SPECS", "open_gpus"]

GPU_SPECS = "auto, nvml, nvml:0,2, sim:N or none"


def open_gpus(spec: str | None, note: Callable[[str], None] | None = None) -> GpuSource | None:
    """The source for a ``--gpus`` value (not opened yet). ``auto`` probes NVML once: the real GPUs, or none
    where NVML (an NVIDIA driver) is absent, said through ``note``; simulated GPUs only when asked (``sim:N``)."""
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
    try:
        if kind == "nvml" and arg:
            return NvmlGpus([int(x) for x in arg.split(",")])
        if kind == "sim" and arg:
            return SimulatedGpus(int(arg))
    except ValueError:
        pass
    raise ValueError(f"--gpus {spec!r}: use {GPU_SPECS}")
