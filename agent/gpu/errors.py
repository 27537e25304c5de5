"""Exceptions raised by the GPU backends.

::

    GpuError                    base of everything agent.gpu raises
    ├── NvmlUnavailable         no NVML library or driver on this machine
    ├── GpuNotFound             a GPU index that does not exist
    ├── GpuLost                 a GPU disappeared mid-run (carries its index)
    └── NvmlCallFailed          any other NVML error (carries the function and NVML's error code)
"""

from __future__ import annotations

from agent.errors import AgentError

__all__ = ["GpuError", "GpuLost", "GpuNotFound", "NvmlCallFailed", "NvmlUnavailable"]


class GpuError(AgentError):
    """Base class for GPU errors."""


class NvmlUnavailable(GpuError):
    """NVML cannot be used on this machine."""


class GpuNotFound(GpuError):
    """No GPU with that index."""


class GpuLost(GpuError):
    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(f"GPU {index}: {message}")


class NvmlCallFailed(GpuError):
    def __init__(self, function: str, code: int | None, message: str) -> None:
        self.function = function
        self.code = code
        super().__init__(f"{function} failed: {message}")
