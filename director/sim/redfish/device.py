"""The simulated BMC: its readings, how often they update, its faults, and its resources in the DMTF mockup shape.

No sockets here: :meth:`SimulatedBmc.resource` gives the JSON of a path and its ETag (or None: no such
resource), so the HTTP app (:mod:`director.sim.redfish.app`) only adds authentication, delays and headers.

The readings update every ``update_s`` seconds, the first ``update_s - phase_s`` after the start (``redfish-sim
--chassis N`` spreads its BMCs' phases over the interval, as independent BMCs' are): each update has a number,
a ``ReadingTime`` (the director's UTC clock when it was made) and an ETag (``W/"<update>"``), and one reading
per power supply, each drawing a fixed share of the signal's power. Fault modes, each an attribute that may be
changed while serving:
``stale_after_s`` (the readings stop updating that long after the start; :meth:`freeze` stops them now),
``legacy_only`` (no ``PowerSubsystem``: only the older ``Power`` resource), ``unavailable`` (the power
readings are null), ``freshness`` (what dates a
reading: ``reading-time`` Sensors with ``ReadingTime`` plus ETags, ``etag`` only, or ``none``), and the
HTTP app's ``slow_s`` and ``auth_fault``. Its nameplate: every supply is rated ``psu_capacity_w`` (with a
SIMULATED model, serial and part number), and ``psu_min_needed``, when given, is published as the supplies'
redundancy group (``MinNeededInGroup``, legacy ``MinNumNeeded``). Everything it says about itself says SIMULATED.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from director.sim.signal import Electrical, Reading, Signal
from director.sim.wt3xx import element_shares

__all__ = ["CHASSIS_ID", "MANUFACTURER", "Freshness", "SimulatedBmc", "Update", "chassis_collection"]

MANUFACTURER = "mlpower"
CHASSIS_ID = "1U"
MODEL = "SIMULATED-REDFISH-BMC"
Freshness = Literal["reading-time", "etag", "none"]
ROOT = "/redfish/v1"


@dataclass(frozen=True)
class Update:
    number: int
    reading_time: str
    supplies: tuple[Reading, ...]

    @property
    def etag(self) -> str:
        return f'W/"{self.number}"'

    @property
    def total_w(self) -> float:
        return sum(r.power_w for r in self.supplies)


def _iso(t_utc_ns: int) -> str:
    return datetime.fromtimestamp(t_utc_ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ref(path: str) -> dict[str, str]:
    return {"@odata.id": path}


def chassis_collection(ids: list[str]) -> dict[str, Any]:
    """``/redfish/v1/Chassis``: the chassis ``ids``."""
    return SimulatedBmc._collection(f"{ROOT}/Chassis", "ChassisCollection", [f"{ROOT}/Chassis/{i}" for i in ids])


class SimulatedBmc:
    """A SIMULATED chassis (``chassis_id``) with ``supplies`` power supplies, read through Redfish."""

    def __init__(
        self,
        signal: Signal,
        electrical: Electrical,
        *,
        supplies: int = 2,
        update_s: float = 1.0,
        stale_after_s: float | None = None,
        legacy_only: bool = False,
        freshness: Freshness = "reading-time",
        psu_capacity_w: float = 800.0,
        psu_min_needed: int | None = None,
        clock_s: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        chassis_id: str = CHASSIS_ID,
        phase_s: float = 0.0,
    ) -> None:
        if supplies < 1 or update_s <= 0:
            raise ValueError("a simulated BMC needs at least one power supply and a positive update interval")
        if psu_capacity_w <= 0 or not 1 <= (psu_min_needed or 1) <= supplies:
            raise ValueError("a simulated PSU's capacity must be positive and its min needed 1 to the supplies")
        self.signal = signal
        self.electrical = electrical
        self.supplies = supplies
        self.shares = element_shares(supplies)
        self.update_s = update_s
        self.stale_after_s = stale_after_s
        self.legacy_only = legacy_only
        self.freshness: Freshness = freshness
        self.psu_capacity_w = psu_capacity_w
        self.psu_min_needed = psu_min_needed
        self.clock_s = clock_s
        self.wall_ns = wall_ns
        self.chassis_id = chassis_id
        self._t0 = clock_s() - phase_s  # as if started phase_s ago: its first update comes that much sooner
        self._frozen: int | None = None
        self.unavailable = False  # the power readings are null, as a BMC gives them while a sensor is unavailable
        self._update: Update | None = None
        self._lock = threading.Lock()

    # readings ---------------------------------------------------------------------------
    def freeze(self) -> None:
        """The readings stop updating from now on (a stuck sensor), until :meth:`thaw`."""
        self._frozen = self._number_now()

    def thaw(self) -> None:
        self._frozen = None
        self.stale_after_s = None

    def _number_now(self) -> int:
        elapsed_s = self.clock_s() - self._t0
        if self.stale_after_s is not None:
            elapsed_s = min(elapsed_s, self.stale_after_s)
        number = int(elapsed_s / self.update_s)
        return number if self._frozen is None else min(number, self._frozen)

    def current(self) -> Update:
        """The latest update: made when first asked for, then the same until the next one is due."""
        number = self._number_now()
        with self._lock:
            if self._update is None or self._update.number != number:
                now_ns = self.wall_ns()
                power_w = self.signal.power_w(now_ns)
                readings = tuple(self.electrical.reading(power_w * share) for share in self.shares)
                self._update = Update(number, _iso(now_ns), readings)
            return self._update

    # resources ------------------------------------------------------------------------
    def resource(self, path: str) -> tuple[dict[str, Any], str | None] | None:
        """The resource at ``path`` and its ETag, or None when there is none."""
        path = path.rstrip("/") or "/"
        chassis = f"{ROOT}/Chassis/{self.chassis_id}"
        fixed: dict[str, Callable[[], dict[str, Any]]] = {
            "/redfish": lambda: {"v1": f"{ROOT}/"},
            ROOT: self._service_root,
            f"{ROOT}/Chassis": lambda: chassis_collection([self.chassis_id]),
            chassis: self._chassis,
            f"{chassis}/Power": self._power,
            f"{ROOT}/SessionService": self._session_service,
        }
        if not self.legacy_only:
            supplies = f"{chassis}/PowerSubsystem/PowerSupplies"
            fixed[f"{chassis}/PowerSubsystem"] = self._subsystem
            fixed[supplies] = lambda: self._collection(
                supplies, "PowerSupplyCollection", [f"{supplies}/Bay{i}" for i in range(1, self.supplies + 1)]
            )
            for i in range(1, self.supplies + 1):
                fixed[f"{supplies}/Bay{i}"] = functools.partial(self._supply, i)
                fixed[f"{supplies}/Bay{i}/Metrics"] = functools.partial(self._metrics, i)
                if self.freshness == "reading-time":
                    fixed[f"{chassis}/Sensors/PS{i}InputPower"] = functools.partial(self._sensor, i)
        make = fixed.get(path)
        if make is None:
            return None
        body = make()
        dated = path.endswith(("/Metrics", "/Power")) or "/Sensors/" in path
        etag = self.current().etag if dated and self.freshness != "none" else None
        if etag is not None:
            body["@odata.etag"] = etag
        return body, etag

    def _watts(self, power_w: float) -> float | None:
        return None if self.unavailable else round(power_w, 2)

    def _service_root(self) -> dict[str, Any]:
        return {
            "@odata.id": ROOT, "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot", "Id": "RootService",
            "Name": "Root Service (SIMULATED)", "RedfishVersion": "1.15.0",
            "UUID": "00000000-0000-0000-0000-6d6c706f7765", "Vendor": MANUFACTURER,
            "Product": "mlpower Redfish simulator (SIMULATED)", "Chassis": _ref(f"{ROOT}/Chassis"),
            "SessionService": _ref(f"{ROOT}/SessionService"),
            "Links": {"Sessions": _ref(f"{ROOT}/SessionService/Sessions")},
        }  # fmt: skip

    @staticmethod
    def _session_service() -> dict[str, Any]:
        return {
            "@odata.id": f"{ROOT}/SessionService", "@odata.type": "#SessionService.v1_1_8.SessionService",
            "Id": "SessionService", "Name": "Session Service (SIMULATED)", "ServiceEnabled": True,
            "Sessions": _ref(f"{ROOT}/SessionService/Sessions"),
        }  # fmt: skip

    @staticmethod
    def _collection(path: str, kind: str, members: list[str]) -> dict[str, Any]:
        return {
            "@odata.id": path, "@odata.type": f"#{kind}.{kind}", "Name": f"{kind} (SIMULATED)",
            "Members": [_ref(m) for m in members], "Members@odata.count": len(members),
        }  # fmt: skip

    def _chassis(self) -> dict[str, Any]:
        path = f"{ROOT}/Chassis/{self.chassis_id}"
        body: dict[str, Any] = {
            "@odata.id": path, "@odata.type": "#Chassis.v1_23_0.Chassis", "Id": self.chassis_id,
            "Name": "SIMULATED chassis", "ChassisType": "RackMount", "Manufacturer": MANUFACTURER,
            "Model": MODEL, "SerialNumber": "SIMULATED", "Status": {"State": "Enabled", "Health": "OK"},
            "Power": _ref(f"{path}/Power"),
        }  # fmt: skip
        if not self.legacy_only:
            body["PowerSubsystem"] = _ref(f"{path}/PowerSubsystem")
            if self.freshness == "reading-time":
                body["Sensors"] = _ref(f"{path}/Sensors")
        return body

    def _subsystem(self) -> dict[str, Any]:
        path = f"{ROOT}/Chassis/{self.chassis_id}/PowerSubsystem"
        return {
            "@odata.id": path, "@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem", "Id": "PowerSubsystem",
            "Name": "Power Subsystem (SIMULATED)", "CapacityWatts": self.psu_capacity_w * self.supplies,
            "PowerSupplies": _ref(f"{path}/PowerSupplies"), "Status": {"State": "Enabled", "Health": "OK"},
            **({"PowerSupplyRedundancy": [{
                "RedundancyType": "NPlusM", "MinNeededInGroup": self.psu_min_needed,
                "MaxSupportedInGroup": self.supplies,
                "RedundancyGroup": [_ref(f"{path}/PowerSupplies/Bay{i}") for i in range(1, self.supplies + 1)],
            }]} if self.psu_min_needed is not None else {}),
        }  # fmt: skip

    def _supply(self, i: int) -> dict[str, Any]:
        path = f"{ROOT}/Chassis/{self.chassis_id}/PowerSubsystem/PowerSupplies/Bay{i}"
        return {
            "@odata.id": path, "@odata.type": "#PowerSupply.v1_5_0.PowerSupply", "Id": f"Bay{i}",
            "Name": f"Power Supply Bay {i} (SIMULATED)", **self._nameplate(i),
            "PowerCapacityWatts": self.psu_capacity_w, "Status": {"State": "Enabled", "Health": "OK"},
            "Metrics": _ref(f"{path}/Metrics"),
        }  # fmt: skip

    def _metrics(self, i: int) -> dict[str, Any]:
        path = f"{ROOT}/Chassis/{self.chassis_id}/PowerSubsystem/PowerSupplies/Bay{i}/Metrics"
        r = self.current().supplies[i - 1]
        power: dict[str, Any] = {"Reading": self._watts(r.power_w)}
        if self.freshness == "reading-time":
            power["DataSourceUri"] = f"{ROOT}/Chassis/{self.chassis_id}/Sensors/PS{i}InputPower"
        return {
            "@odata.id": path, "@odata.type": "#PowerSupplyMetrics.v1_1_0.PowerSupplyMetrics", "Id": "Metrics",
            "Name": f"Power Supply Bay {i} Metrics (SIMULATED)", "InputPowerWatts": power,
            "InputVoltage": {"Reading": round(r.volts_v, 2)}, "InputCurrentAmps": {"Reading": round(r.amps_a, 3)},
            "OutputPowerWatts": {"Reading": round(r.power_w * 0.94, 2)},
        }  # fmt: skip

    def _sensor(self, i: int) -> dict[str, Any]:
        update = self.current()
        return {
            "@odata.id": f"{ROOT}/Chassis/{self.chassis_id}/Sensors/PS{i}InputPower",
            "@odata.type": "#Sensor.v1_7_0.Sensor", "Id": f"PS{i}InputPower",
            "Name": f"Power Supply {i} Input Power (SIMULATED)", "ReadingType": "Power", "ReadingUnits": "W",
            "Reading": self._watts(update.supplies[i - 1].power_w), "ReadingTime": update.reading_time,
            "Status": {"State": "Enabled", "Health": "OK"},
        }  # fmt: skip

    def _power(self) -> dict[str, Any]:
        path = f"{ROOT}/Chassis/{self.chassis_id}/Power"
        update = self.current()
        return {
            "@odata.id": path, "@odata.type": "#Power.v1_7_1.Power", "Id": "Power", "Name": "Power (SIMULATED)",
            "PowerControl": [{
                "@odata.id": f"{path}#/PowerControl/0", "MemberId": "0", "Name": "System Input Power (SIMULATED)",
                "PowerConsumedWatts": self._watts(update.total_w),
                "PowerCapacityWatts": self.psu_capacity_w * self.supplies,
            }],
            "PowerSupplies": [{
                "@odata.id": f"{path}#/PowerSupplies/{i}", "MemberId": str(i),
                "Name": f"Power Supply {i + 1} (SIMULATED)", **self._nameplate(i + 1),
                "PowerCapacityWatts": self.psu_capacity_w, "LineInputVoltage": round(r.volts_v, 2),
                "PowerInputWatts": self._watts(r.power_w),
                "LastPowerOutputWatts": round(r.power_w * 0.94, 2),
            } for i, r in enumerate(update.supplies)],
            **({"Redundancy": [{
                "@odata.id": f"{path}#/Redundancy/0", "MemberId": "0", "Name": "PSU Redundancy (SIMULATED)",
                "Mode": "N+m", "MinNumNeeded": self.psu_min_needed, "MaxNumSupported": self.supplies,
            }]} if self.psu_min_needed is not None else {}),
        }  # fmt: skip

    @staticmethod
    def _nameplate(i: int) -> dict[str, str]:
        """A supply's label, SIMULATED: maker, model, serial and part number, and what it takes (AC)."""
        return {
            "Manufacturer": MANUFACTURER, "Model": "SIMULATED-PSU", "SerialNumber": f"SIM-PSU-{i:04d}",
            "PartNumber": "SIMULATED-PN-0001", "PowerSupplyType": "AC",
        }  # fmt: skip
