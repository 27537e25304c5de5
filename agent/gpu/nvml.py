"""GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``).

Power comes from ``nvmlDeviceGetFieldValues`` with the instant power field, which
carries the time NVML took the value; values are deduplicated on that time, since
NVML refreshes a field at its own rate whatever the polling rate. Where the field
or its GPU scope is unsupported we fall back (module scope, the averaged field,
then ``nvmlDeviceGetPowerUsage`` timed by the host clock) and say so. Energy comes
from ``nvmlDeviceGetTotalEnergyConsumption``. Every NVML error is translated here.

Power limits: read with ``nvmlDeviceGetPowerManagementLimit`` (the limit that was set, which a restore puts
back; the enforced limit may be lower where another limit applies), its range with
``nvmlDeviceGetPowerManagementLimitConstraints``, set with ``nvmlDeviceSetPowerManagementLimit`` (root only:
``NVML_ERROR_NO_PERMISSION`` becomes :class:`~agent.gpu.errors.GpuPermissionError`). A value outside the range
is refused here, before NVML is asked.

Each GPU says what its readings are (:class:`~agent.gpu.base.GpuInfo`): the power field's kind (the instant
field: ``instant``; the averaged one: NVML's 1 s ``average``; ``nvmlDeviceGetPowerUsage``: a 1 s average on
Ampere and newer except GA100 (A100, A30, A800), an instant value on GA100 and older: :func:`usage_power_kind`)
and scope (the field's scope id; ``nvmlDeviceGetPowerUsage`` and the energy counter: the module on GH200,
:func:`powerlog.sut_samples.counter_scope`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import pynvml

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from agent.gpu.errors import GpuLimitError, GpuNotFound, GpuPermissionError, NvmlCallFailed, NvmlUnavailable
from powerlog.sut_samples import FAULT_NO_COUNTER, PowerKind, Scope, counter_scope

__all__ = ["GA100_NAMES", "POWER_FIELDS", "NvmlGpus", "field_watts", "usage_power_kind"]

# (label, field id, scope id or None) in order of preference
POWER_FIELDS: tuple[tuple[str, int, int | None], ...] = (
    ("instant", pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_POWER_SCOPE_GPU),
    ("instant/module", pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_POWER_SCOPE_MODULE),
    ("average", pynvml.NVML_FI_DEV_POWER_AVERAGE, pynvml.NVML_POWER_SCOPE_GPU),
)
_FIELD_KIND: dict[int, PowerKind] = {
    pynvml.NVML_FI_DEV_POWER_INSTANT: "instant",
    pynvml.NVML_FI_DEV_POWER_AVERAGE: "average",
}
_FIELD_SCOPE: dict[int | None, Scope] = {pynvml.NVML_POWER_SCOPE_GPU: "gpu", pynvml.NVML_POWER_SCOPE_MODULE: "module"}
GA100_NAMES = re.compile(r"\bA(100|30|800)\b")  # the GA100 boards: their nvmlDeviceGetPowerUsage is instant
_GPU_ARCHS = range(pynvml.NVML_DEVICE_ARCH_KEPLER, pynvml.NVML_DEVICE_ARCH_DLA)  # Kepler .. Blackwell
_NEWER_ARCHS = (pynvml.NVML_DEVICE_ARCH_RUBIN,)
_UNAVAILABLE = (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
_LOST = (pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVML_ERROR_NOT_FOUND, pynvml.NVML_ERROR_UNKNOWN)
_VALUE_ATTRIBUTE = {
    pynvml.NVML_VALUE_TYPE_DOUBLE: "dVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal",
}


def _code(error: pynvml.NVMLError) -> int | None:
    return getattr(error, "value", None)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def field_watts(value: Any) -> float | None:
    """A power field value (``c_nvmlFieldValue_t``, milliwatts) in W; None where NVML did not give one."""
    if value.nvmlReturn != pynvml.NVML_SUCCESS:
        return None
    return float(getattr(value.value, _VALUE_ATTRIBUTE.get(value.valueType, "uiVal"))) / 1000.0


def usage_power_kind(architecture: int | None, name: str) -> PowerKind | None:
    """What ``nvmlDeviceGetPowerUsage`` returns on a GPU: NVML's 1 s ``average`` on Ampere and newer except
    GA100, an ``instant`` value on GA100 and older; None where the architecture is not known."""
    if GA100_NAMES.search(name):
        return "instant"
    if architecture in _NEWER_ARCHS or (architecture in _GPU_ARCHS and architecture >= pynvml.NVML_DEVICE_ARCH_AMPERE):
        return "average"
    return "instant" if architecture in _GPU_ARCHS else None


class NvmlGpus:
    """The machine's NVIDIA GPUs (all, or the given indices). Nothing touches NVML before :meth:`open`."""

    simulated = False
    history_s = 0.0  # the instant field is a live value: polled at the sampling rate

    def __init__(self, indices: Sequence[int] | None = None, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.indices = list(indices) if indices is not None else None
        self.clock_ns = clock_ns
        self._handles: dict[int, Any] = {}
        self._fields: dict[int, tuple[str, int, int | None] | None] = {}
        self._counter: dict[int, bool] = {}
        self._last_t: dict[int, int] = {}
        self._lost: set[int] = set()
        self._warned: set[tuple[int, str]] = set()
        self._events: list[str] = []
        self._open = False

    @property
    def handles(self) -> dict[int, Any]:
        """The open GPUs' NVML handles by index (for checks beside the sampler: scripts/gpu_check.sh)."""
        return dict(self._handles)

    # lifecycle -----------------------------------------------------------------------
    def open(self) -> list[GpuInfo]:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            if _code(e) in _UNAVAILABLE:
                raise NvmlUnavailable(f"NVML is not available here ({e}): no NVIDIA driver, or not this machine") from e
            raise NvmlCallFailed("nvmlInit", _code(e), str(e)) from e
        self._open = True
        try:
            count = pynvml.nvmlDeviceGetCount()
            indices = self.indices if self.indices is not None else list(range(count))
            missing = [i for i in indices if not 0 <= i < count]
            if missing:
                raise GpuNotFound(f"no GPU {missing} (this machine has {count})")
            return [self._describe(i) for i in indices]
        except pynvml.NVMLError as e:
            self.close()
            raise NvmlCallFailed("nvmlDeviceGetHandleByIndex", _code(e), str(e)) from e
        except GpuNotFound:
            self.close()
            raise

    def close(self) -> None:
        if self._open:
            self._open = False
            with contextlib.suppress(pynvml.NVMLError):  # shutting down: nothing left to protect
                pynvml.nvmlShutdown()

    def _describe(self, index: int) -> GpuInfo:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._handles[index] = handle
        try:
            limit_w: float | None = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
        except pynvml.NVMLError:
            limit_w = None
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            self._counter[index] = True
        except pynvml.NVMLError as e:
            self._counter[index] = False
            self._events.append(
                f"GPU {index}: {FAULT_NO_COUNTER}: no energy counter ({e}); its energy is integrated power"
            )
        field = self._probe_power_field(index, handle)
        self._fields[index] = field
        name = _text(pynvml.nvmlDeviceGetName(handle))
        counter_covers = counter_scope(name) if self._counter[index] else None
        if field is not None:
            label, kind, scope = field[0], _FIELD_KIND.get(field[1]), _FIELD_SCOPE.get(field[2])
        else:
            label, kind, scope = "usage", usage_power_kind(self.architecture(handle), name), counter_scope(name)
            said = {"average": "NVML's 1 s average", "instant": "instant values", None: "of an unknown kind"}[kind]
            self._events.append(f"GPU {index}: nvmlDeviceGetPowerUsage readings are {said}")
        if counter_covers == "module":
            self._events.append(f"GPU {index} ({name}): its energy counter covers the whole module (CPU, memory, GPU)")
        return GpuInfo(
            index=index,
            name=name,
            uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
            power_limit_w=limit_w,
            energy_counter=self._counter[index],
            power_field=label,
            simulated=False,
            power_kind=kind,
            power_scope=scope,
            energy_scope=counter_covers,
        )

    @staticmethod
    def architecture(handle: Any) -> int | None:
        """NVML's architecture number of a GPU (``NVML_DEVICE_ARCH_*``); None where NVML cannot say."""
        try:
            return int(pynvml.nvmlDeviceGetArchitecture(handle))
        except pynvml.NVMLError:
            return None

    def _probe_power_field(self, index: int, handle: Any) -> tuple[str, int, int | None] | None:
        for field in POWER_FIELDS:
            label, field_id, scope = field
            try:
                (value,) = pynvml.nvmlDeviceGetFieldValues(handle, [(field_id, scope)])
            except pynvml.NVMLError as e:
                self._events.append(f"GPU {index}: power field {label} unsupported ({e}); trying the next")
                continue
            if value.nvmlReturn == pynvml.NVML_SUCCESS:
                if field is not POWER_FIELDS[0]:
                    self._events.append(f"GPU {index}: using the {label} power field")
                return field
            self._events.append(f"GPU {index}: power field {label} unsupported (NVML code {value.nvmlReturn})")
        self._events.append(f"GPU {index}: no power field works; using nvmlDeviceGetPowerUsage, timed by the host")
        return None

    # readings ------------------------------------------------------------------------
    def _lose(self, index: int, error: pynvml.NVMLError) -> None:
        self._lost.add(index)
        self._events.append(f"GPU {index} lost at {self.clock_ns()} ns UTC ({error}); the other GPUs go on")

    def _warn_once(self, index: int, what: str, error: object) -> None:
        if (index, what) not in self._warned:
            self._warned.add((index, what))
            self._events.append(f"GPU {index}: {what} failed ({error}); skipping such readings")

    def read_power(self) -> list[PowerReading]:
        out = []
        for index, handle in self._handles.items():
            if index in self._lost:
                continue
            try:
                reading = self._read_one_power(index, handle)
            except pynvml.NVMLError as e:
                if _code(e) in _LOST:
                    self._lose(index, e)
                else:
                    self._warn_once(index, "power", e)
                continue
            if reading is not None and reading.t_utc_ns != self._last_t.get(index):
                self._last_t[index] = reading.t_utc_ns
                out.append(reading)
        return out

    def _read_one_power(self, index: int, handle: Any) -> PowerReading | None:
        field = self._fields.get(index)
        if field is None:
            return PowerReading(index, self.clock_ns(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
        _, field_id, scope = field
        (value,) = pynvml.nvmlDeviceGetFieldValues(handle, [(field_id, scope)])
        watts = field_watts(value)
        if watts is None:
            self._warn_once(index, f"power field (NVML code {value.nvmlReturn})", "not SUCCESS")
            return None
        # NVML stamps field values in microseconds since the epoch
        return PowerReading(index, int(value.timestamp) * 1000, watts)

    def read_energy(self) -> list[EnergyReading]:
        out = []
        for index, handle in self._handles.items():
            if index in self._lost or not self._counter.get(index):
                continue
            try:
                millijoules = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            except pynvml.NVMLError as e:
                if _code(e) in _LOST:
                    self._lose(index, e)
                else:
                    self._warn_once(index, "energy counter", e)
                continue
            out.append(EnergyReading(index, self.clock_ns(), millijoules / 1000.0))
        return out

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    # power limits --------------------------------------------------------------------
    def _handle(self, index: int) -> Any:
        if index not in self._handles:
            raise GpuNotFound(f"no open GPU {index} (open: {sorted(self._handles)}; open the source first)")
        return self._handles[index]

    def power_limit_w(self, index: int) -> float:
        try:
            return float(pynvml.nvmlDeviceGetPowerManagementLimit(self._handle(index))) / 1000.0
        except pynvml.NVMLError as e:
            raise NvmlCallFailed("nvmlDeviceGetPowerManagementLimit", _code(e), f"GPU {index}: {e}") from e

    def clock_and_temperature(self, index: int) -> tuple[float | None, float | None]:
        handle = self._handle(index)
        try:
            clock_mhz: float | None = float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
        except pynvml.NVMLError:
            clock_mhz = None
        try:
            temperature_c: float | None = float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
        except pynvml.NVMLError:
            temperature_c = None
        return clock_mhz, temperature_c

    def power_limit_range_w(self, index: int) -> tuple[float, float]:
        try:
            low_mw, high_mw = pynvml.nvmlDeviceGetPowerManagementLimitConstraints(self._handle(index))
        except pynvml.NVMLError as e:
            raise NvmlCallFailed("nvmlDeviceGetPowerManagementLimitConstraints", _code(e), f"GPU {index}: {e}") from e
        return float(low_mw) / 1000.0, float(high_mw) / 1000.0

    def set_power_limit_w(self, index: int, watts: float) -> None:
        low_w, high_w = self.power_limit_range_w(index)
        if not low_w <= watts <= high_w:
            raise GpuLimitError(
                index, f"power limit {watts:g} W is outside this GPU's range {low_w:g}-{high_w:g} W", (low_w, high_w)
            )
        try:
            pynvml.nvmlDeviceSetPowerManagementLimit(self._handle(index), round(watts * 1000))
        except pynvml.NVMLError as e:
            code = _code(e)
            if code == pynvml.NVML_ERROR_NO_PERMISSION:
                raise GpuPermissionError(
                    index,
                    f"may not set the power limit ({e}): run as root, or grant this user the right "
                    "(sudo, or `nvidia-smi -pl` run by an administrator)",
                ) from e
            if code == pynvml.NVML_ERROR_INVALID_ARGUMENT:
                raise GpuLimitError(
                    index, f"NVML refused {watts:g} W ({e}); the range is {low_w:g}-{high_w:g} W", (low_w, high_w)
                ) from e
            if code == pynvml.NVML_ERROR_NOT_SUPPORTED:
                raise GpuLimitError(index, f"this GPU's power limit cannot be changed ({e})", (low_w, high_w)) from e
            raise NvmlCallFailed("nvmlDeviceSetPowerManagementLimit", code, f"GPU {index}: {e}") from e
