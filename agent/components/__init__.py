"""Component power on the SUT beside the GPUs: RAPL domains (powercap) and hwmon sensors, read from sysfs."""

from agent.components.base import ComponentEnergy, ComponentInfo, ComponentPower, ComponentSource
from agent.components.counter import CounterStep, EnergyCounter, counter_delta_uj
from agent.components.sysfs import HWMON_ROOT_ENV, POWERCAP_ROOT_ENV, RAPL_PERMISSION_HELP, read_attribute
from agent.components.sysfs_source import COMPONENT_SPECS, Discovery, SysfsComponents, discover, open_components

__all__ = [
    "COMPONENT_SPECS",
    "HWMON_ROOT_ENV",
    "POWERCAP_ROOT_ENV",
    "RAPL_PERMISSION_HELP",
    "ComponentEnergy",
    "ComponentInfo",
    "ComponentPower",
    "ComponentSource",
    "CounterStep",
    "Discovery",
    "EnergyCounter",
    "SysfsComponents",
    "counter_delta_uj",
    "discover",
    "open_components",
    "read_attribute",
]
