"""Reading sysfs attributes, and saying in words why one cannot be read.

Every read goes through a :data:`Reader` (a path in, the attribute's text out, ``OSError`` as ``open``
raises it), so a test can put a fake tree in a temporary folder and, where the file system cannot show a
failure, hand in a reader that fails as the kernel would (root reads a ``chmod 000`` file all the same).
The roots default to the machine's own (``/sys/class/powercap``, ``/sys/class/hwmon``) and can be moved
with ``MLPOWER_POWERCAP_ROOT`` and ``MLPOWER_HWMON_ROOT``; a tree anywhere else is a fake one, and what is
read from it says SIMULATED.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "HWMON_ROOT",
    "HWMON_ROOT_ENV",
    "POWERCAP_ROOT",
    "POWERCAP_ROOT_ENV",
    "RAPL_PERMISSION_HELP",
    "Reader",
    "hwmon_root",
    "is_real_root",
    "powercap_root",
    "read_attribute",
    "why_unreadable",
]

POWERCAP_ROOT = Path("/sys/class/powercap")
HWMON_ROOT = Path("/sys/class/hwmon")
POWERCAP_ROOT_ENV = "MLPOWER_POWERCAP_ROOT"
HWMON_ROOT_ENV = "MLPOWER_HWMON_ROOT"

Reader = Callable[[Path], str]

RAPL_PERMISSION_HELP = (
    "since Linux 5.10 energy_uj is readable by root only (CVE-2020-8694, the PLATYPUS side channel). "
    "Run the agent as root, or let it read the counters: `sudo chmod o+r /sys/class/powercap/*/energy_uj` "
    "(until the next boot), a udev rule that does the same when the driver loads (docs/hardware-setup.md), "
    "or the capability CAP_DAC_READ_SEARCH on the agent's Python (`sudo setcap cap_dac_read_search+ep "
    "$(readlink -f .venv/bin/python)`; it then reads every file on the machine)"
)


def read_attribute(path: Path) -> str:
    """The text of a sysfs attribute, stripped (each read is one ``open``: sysfs gives a fresh value)."""
    with open(path, "rb") as f:
        return f.read(4096).decode("ascii", "replace").strip()


def powercap_root(root: Path | str | None = None) -> Path:
    return Path(root) if root is not None else Path(os.environ.get(POWERCAP_ROOT_ENV) or POWERCAP_ROOT)


def hwmon_root(root: Path | str | None = None) -> Path:
    return Path(root) if root is not None else Path(os.environ.get(HWMON_ROOT_ENV) or HWMON_ROOT)


def is_real_root(root: Path, real: Path) -> bool:
    """Whether ``root`` is the machine's own tree; anything else is a fake one (simulated readings)."""
    try:
        return root.resolve() == real.resolve()
    except OSError:
        return root == real


def why_unreadable(error: OSError, path: Path) -> str:
    """Why ``path`` could not be read, in words a person can act on."""
    if isinstance(error, PermissionError) or error.errno in (errno.EACCES, errno.EPERM):
        if path.name == "energy_uj":
            return f"{path}: permission denied: {RAPL_PERMISSION_HELP}"
        return f"{path}: permission denied: run the agent as root, or make the file readable (chmod o+r)"
    if isinstance(error, FileNotFoundError):
        return f"{path}: no such file (the domain or sensor is gone, or its driver does not offer it)"
    return f"{path}: {error.strerror or error} (the driver could not read the sensor)"
