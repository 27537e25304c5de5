"""Exceptions raised by the GPU backends.

::

    GpuError                    base of everything agent.gpu raises
    ├── NvmlUnavailable         no NVML library or driver on this machine
    ├── GpuNotFound             a GPU index that does not exist
    ├── GpuLost                 a GPU disappeared mid-run (carries its index)
    ├── NvmlCallFailed          any other NVML error (carries the function and NVML's error code)
    ├── GpuPermissionError      this process may not change a GPU setting (not root: NVML_ERROR_NO_PERMISSION)
    ├── GpuLimitError           a power limit outside the GPU's range, or one the GPU cannot take
    └── LimitJournalError       a power-limit journal that cannot be read or does not fit this machine
"""

from __future__ import annotations

from agent.errors import AgentError

__all__ = [
    "GpuError",
    "GpuLimitError",
    "GpuLost",
    "GpuNotFound",
    "GpuPermissionError",
    "LimitJournalError",
    "NvmlCallFailed",
    "NvmlUnavailable",
]


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


class GpuPermissionError(GpuError):
    """This process may not change GPU ``index``'s settings (carries the index)."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(f"GPU {index}: {message}")


class GpuLimitError(GpuError):
    """A power limit GPU ``index`` cannot take; ``range_w`` is its (min, max) where known."""

    def __init__(self, index: int, message: str, range_w: tuple[float, float] | None = None) -> None:
        self.index = index
        self.range_w = range_w
        super().__init__(f"GPU {index}: {message}")


class LimitJournalError(GpuError):
    """The power-limit journal (the original limits a run recorded) is unreadable or from another machine."""
