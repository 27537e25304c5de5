"""A fake NVML for the GPU backend's tests: pynvml's functions patched at the boundary (autospec keeps their
signatures), answering from :class:`FakeGpu` records."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from unittest import mock

import pynvml

INSTANT, AVERAGE = pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_FI_DEV_POWER_AVERAGE
GPU_SCOPE, MODULE_SCOPE = pynvml.NVML_POWER_SCOPE_GPU, pynvml.NVML_POWER_SCOPE_MODULE


def nvml_error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


@dataclass
class FakeGpu:
    """What one GPU answers; power values are (timestamp_us, milliwatts) handed out in turn."""

    name: bytes = b"NVIDIA H200"
    energy_mj: int | None = 1_000_000  # None: no counter
    fields: dict[tuple[int, int], int] = field(default_factory=lambda: {(INSTANT, GPU_SCOPE): pynvml.NVML_SUCCESS})
    power: list[tuple[int, int]] = field(default_factory=lambda: [(1_000_000, 300_000)])
    lost_after: int | None = None  # calls before NVML says the GPU is lost
    architecture: int | None = pynvml.NVML_DEVICE_ARCH_HOPPER  # None: NVML cannot say
    calls: int = 0
    limit_mw: int = 700_000  # the power limit now
    limit_range_mw: tuple[int, int] = (200_000, 700_000)
    set_error: int | None = None  # the NVML error code setting a limit fails with (NO_PERMISSION: not root)
    limits_set_mw: list[int] = field(default_factory=list)  # every limit set, in order


class FakeNvml:
    def __init__(self, gpus: list[FakeGpu], available: bool = True) -> None:
        self.gpus = gpus
        self.available = available
        self.usage_mw = 250_000

    def init(self) -> None:
        if not self.available:
            raise nvml_error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    def gpu(self, handle: object) -> FakeGpu:
        assert isinstance(handle, int)
        g = self.gpus[handle]
        g.calls += 1
        if g.lost_after is not None and g.calls > g.lost_after:
            raise nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
        return g

    def field_values(self, handle: object, field_ids: list) -> object:
        g = self.gpu(handle)
        values = (pynvml.c_nvmlFieldValue_t * len(field_ids))()
        for i, (field_id, scope) in enumerate(field_ids):
            values[i].fieldId, values[i].scopeId = field_id, scope
            values[i].nvmlReturn = g.fields.get((field_id, scope), pynvml.NVML_ERROR_NOT_SUPPORTED)
            t_us, mw = g.power[0] if len(g.power) == 1 else g.power.pop(0)
            values[i].timestamp = t_us
            values[i].valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
            values[i].value.uiVal = mw
        return values

    def energy(self, handle: object) -> int:
        g = self.gpu(handle)
        if g.energy_mj is None:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        g.energy_mj += 1000
        return g.energy_mj

    def set_limit(self, handle: object, milliwatts: int) -> None:
        g = self.gpus[handle]  # type: ignore[index]
        if g.set_error is not None:
            raise nvml_error(g.set_error)
        low, high = g.limit_range_mw
        if not low <= milliwatts <= high:
            raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        g.limit_mw = milliwatts
        g.limits_set_mw.append(milliwatts)

    def architecture(self, handle: object) -> int:
        g = self.gpus[handle]  # type: ignore[index]
        if g.architecture is None:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return g.architecture


@contextlib.contextmanager
def patched_nvml() -> Iterator[Callable[..., FakeNvml]]:
    """Within: ``install([FakeGpu(...), ...])`` patches pynvml to answer as those GPUs (a test module's fixture)."""
    patches: list = []

    def install(gpus: list[FakeGpu], available: bool = True) -> FakeNvml:
        fake = FakeNvml(gpus, available)
        effects = {
            "nvmlInit": lambda: fake.init(),
            "nvmlShutdown": lambda: None,
            "nvmlDeviceGetCount": lambda: len(fake.gpus),
            "nvmlDeviceGetHandleByIndex": lambda i: i,
            "nvmlDeviceGetName": lambda h: fake.gpus[h].name,
            "nvmlDeviceGetUUID": lambda h: f"GPU-{h:04d}",
            "nvmlDeviceGetEnforcedPowerLimit": lambda h: fake.gpus[h].limit_mw,
            "nvmlDeviceGetPowerManagementLimit": lambda h: fake.gpus[h].limit_mw,
            "nvmlDeviceGetPowerManagementLimitConstraints": lambda h: list(fake.gpus[h].limit_range_mw),
            "nvmlDeviceSetPowerManagementLimit": fake.set_limit,
            "nvmlDeviceGetTotalEnergyConsumption": fake.energy,
            "nvmlDeviceGetFieldValues": fake.field_values,
            "nvmlDeviceGetPowerUsage": lambda h: fake.usage_mw,
            "nvmlDeviceGetArchitecture": fake.architecture,
            "nvmlDeviceGetClockInfo": lambda h, kind: 1755 if kind == pynvml.NVML_CLOCK_SM else 2619,
            "nvmlDeviceGetTemperature": lambda h, sensor: 61,
        }
        for name, effect in effects.items():
            patcher = mock.patch.object(pynvml, name, autospec=True, side_effect=effect)
            patcher.start()
            patches.append(patcher)
        return fake

    try:
        yield install
    finally:
        for p in patches:
            p.stop()
