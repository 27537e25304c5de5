"""``--gpus``: which GPU source the agent samples."""

from __future__ import annotations

from agent.gpu.base import GpuSource
from agent.gpu.errors import NvmlUnavailable
from agent.gpu.nvml import NvmlGpus
from agent.gpu.simulated import SimulatedGpus

__all__ = ["GPU_SPECS", "open_gpus"]

GPU_SPECS = "auto, nvml, nvml:0,2, sim:N or none"


class _Announced(SimulatedGpus):
    """Simulated GPUs chosen because NVML is absent: the first event says so."""

    def __init__(self, count: int, reason: str) -> None:
        super().__init__(count)
        self._reason = reason

    def take_events(self) -> list[str]:
        events = super().take_events()
        if self._reason:
            events.insert(0, self._reason)
            self._reason = ""
        return events


def open_gpus(spec: str | None) -> GpuSource | None:
    """The source for a ``--gpus`` value (not opened yet; ``auto`` probes NVML once)."""
    spec = (spec or "auto").strip()
    if spec == "none":
        return None
    if spec == "auto":
        probe = NvmlGpus()
        try:
            probe.open()
        except NvmlUnavailable as e:
            return _Announced(1, f"NVML absent ({e}); using one SIMULATED GPU")
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
