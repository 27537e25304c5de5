"""Component energy per LoadGen window (RAPL domains, hwmon sensors), from the readings the agent streamed: pure.

A component's energy counter is read at every sample (RAPL: ``energy_uj``, its wrap-arounds undone by the
agent; hwmon: ``energyN_input``), its power is a sensor's value or the counter's mean over each interval;
the window's figures are the GPUs' (:func:`analyzer.gpu.readings_window`): the counter interpolated to the
window's edges, the power integrated, the two compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.gpu import ReadingsWindow, readings_window

__all__ = ["ComponentSeries", "ComponentWindow", "component_window"]


@dataclass(frozen=True)
class ComponentSeries:
    """One component's readings on the meter's (director's) clock."""

    name: str  # rapl:package-0, hwmon:amdgpu:PPT (powerlog.components)
    power_t_ns: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.float64]
    energy_t_ns: npt.NDArray[np.int64]
    energy_j: npt.NDArray[np.float64]

    @property
    def family(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class ComponentWindow:
    name: str
    family: str
    figures: ReadingsWindow


def component_window(series: ComponentSeries, begin_utc_ns: int, end_utc_ns: int) -> ComponentWindow:
    figures = readings_window(series, begin_utc_ns, end_utc_ns, what=series.name, power="power")
    return ComponentWindow(series.name, series.family, figures)
