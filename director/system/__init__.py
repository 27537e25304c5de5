"""The system under test as several nodes: what a ``SYSTEM.toml`` describes, validated and typed.

- :mod:`~director.system.description`: :class:`SystemDescription` (nodes, wall sources, the LoadGen node,
  the interconnect), the one-node system ``--meter`` alone means, and its ``system.json`` record;
- :mod:`~director.system.toml_file`: :func:`load_system`, the file read and checked, errors that say where;
- :mod:`~director.system.check`: ``mlpower-director system-check``.
"""

from director.errors import SystemConfigError
from director.system.description import (
    EstimatedInterconnect,
    Interconnect,
    MeasuredInterconnect,
    Node,
    SystemDescription,
    WallSource,
)
from director.system.toml_file import load_system, parse_system

__all__ = [
    "EstimatedInterconnect",
    "Interconnect",
    "MeasuredInterconnect",
    "Node",
    "SystemConfigError",
    "SystemDescription",
    "WallSource",
    "load_system",
    "parse_system",
]
