"""What a meter model declares about itself: :class:`MeterModel`, and the parsed :class:`MeterUrl` it is opened from.

Each driver class states its model as ``meter_model`` (a ClassVar); :mod:`director.meters.registry` finds
them. The URL parser, range derivation, the director's tiers, ``mlpower-ptd`` and ``meter-probe`` read these
declarations, so a new model is a new driver file (and its simulator and tests), nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from director.errors import MeterConfigError
from director.meters.ranges import RangeTable
from powerlog.tiers import MeasurementTier

if TYPE_CHECKING:
    from director.meters.base import Meter

__all__ = ["MeterFactory", "MeterModel", "MeterUrl", "UrlCheck", "url_timeout_s"]


@dataclass(frozen=True)
class MeterUrl:
    scheme: str
    host: str
    port: int
    path: str
    options: dict[str, str]
    text: str

    @property
    def interval_ms(self) -> int:
        """The sample interval the meter gives: PTDaemon's 1 s, the serial analyzer's ``rate``, or the Redfish
        meter's poll interval (``rate``)."""
        if self.scheme == "ptd":
            return 1000
        return round(float(self.options.get("rate", "1")) * 1000)


def url_timeout_s(url: MeterUrl, default_s: float) -> float:
    """The URL's ``timeout=`` in seconds (``default_s`` without one); MeterConfigError unless a positive number."""
    try:
        timeout_s = float(url.options.get("timeout", default_s))
    except ValueError:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a number of seconds") from None
    if not timeout_s > 0:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a positive number of seconds")
    return timeout_s


MeterFactory = Callable[[MeterUrl], "Meter"]
UrlCheck = Callable[[MeterUrl], MeterUrl]  # the checked URL (maybe with a default port or path); MeterConfigError


@dataclass(frozen=True)
class MeterModel:
    """One meter model, as its driver declares it.

    ``schemes`` are the URL schemes that reach it; where several models share a scheme (``serial://``) the URL's
    ``model=`` picks one of ``url_models``. ``sim://`` reaches any model with a ``simulator``: a dotted path
    ``package.module:function`` taking the :class:`MeterUrl` and giving the driver on a simulated instrument,
    imported only when a ``sim://`` URL is opened. ``device_types`` are the PTDaemon Identify names of the
    analyzers it is (``YokogawaWT310E``): for a real analyzer each is one the power rules accept.
    ``model_names`` are the parts of the names the instrument gives itself (``WT332`` of ``YokogawaWT332E``)
    that say its range table applies. ``options`` maps each scheme to the URL options it takes; ``check_url``
    checks what the generic parser does not (options' values, a host or path); ``open`` builds the driver."""

    name: str
    schemes: tuple[str, ...]
    tier: MeasurementTier
    open: MeterFactory
    options: Mapping[str, frozenset[str]]
    url_models: tuple[str, ...] = ()
    default_url_model: str | None = None  # sim:// without model=
    device_types: tuple[str, ...] = ()
    model_names: tuple[str, ...] = ()
    range_table: RangeTable | None = None
    rates_ms: tuple[int, ...] = ()  # the update intervals a URL's rate= may give; () when not checked here
    has_ranges: bool = True
    check_url: UrlCheck | None = None
    simulator: str | None = None
    default_port: int = 0
    example: str = ""  # a URL, for error messages and help
    simulator_options: frozenset[str] = field(default_factory=frozenset)  # sim:// options beyond model= and rate=

    def takes(self, url: MeterUrl) -> bool:
        """Whether this model is the one ``url`` names (its scheme, and its ``model=`` where the scheme is shared)."""
        if url.scheme == "sim":
            wanted = url.options.get("model", "").lower()
            return self.simulator is not None and (
                wanted in self.url_models if wanted else self.default_url_model is not None
            )
        if url.scheme not in self.schemes:
            return False
        return not self.url_models or url.options.get("model", "").lower() in self.url_models

    def simulated(self, url: MeterUrl) -> Meter:
        """The driver on this model's simulated instrument (``sim://``); the simulator is imported here only."""
        if self.simulator is None:
            raise ValueError(f"{self.name} has no simulator")
        module, _, function = self.simulator.partition(":")
        factory: MeterFactory = getattr(importlib.import_module(module), function)
        return factory(url)

    def identifies(self, model: str) -> bool:
        """Whether an instrument naming itself ``model`` (``YokogawaWT333E``, ``SimulatedWT310``) is this model."""
        upper = model.upper()
        return any(name.upper() in upper for name in self.model_names)
