"""GPU power on the SUT: NVML and simulated backends behind one interface."""

from agent.gpu.base import EnergyReading, GpuInfo, GpuSource, PowerReading
from agent.gpu.errors import (
    GpuError,
    GpuLimitError,
    GpuLost,
    GpuNotFound,
    GpuPermissionError,
    LimitJournalError,
    NvmlCallFailed,
    NvmlUnavailable,
)
from agent.gpu.nvml import NvmlGpus
from agent.gpu.select import open_gpus
from agent.gpu.simulated import SimulatedFault, SimulatedGpus
from agent.gpu.watch import GpuWatch

__all__ = [
    "EnergyReading",
    "GpuError",
    "GpuInfo",
    "GpuLimitError",
    "GpuLost",
    "GpuNotFound",
    "GpuPermissionError",
    "GpuSource",
    "GpuWatch",
    "LimitJournalError",
    "NvmlCallFailed",
    "NvmlGpus",
    "NvmlUnavailable",
    "PowerReading",
    "SimulatedFault",
    "SimulatedGpus",
    "open_gpus",
]
