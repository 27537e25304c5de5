"""Meter URLs, validated here before anything connects.

- ``ptd://HOST[:PORT][?timeout=S]``: SPEC PTDaemon's TCP interface (port 8888 by default).
- ``serial:///dev/ttyUSB0?model=wt310[&rate=0.1][&baud=9600]``: a Yokogawa WT310 on a serial port;
  ``model=wt330``, ``wt332``, ``wt333`` (or with ``e``) for the multi-element WT330 family, whose
  element count the driver reads from ``*IDN?``.
- ``serial+socket://HOST:PORT?model=wt310[&rate=0.1]``: the same behind a serial-over-TCP converter.
- ``sim://[?rate=0.1][&signal=host-load][&model=wt310]``: a SIMULATED WT310E (or ``model=wt332``: WT332E,
  ``wt333`` or ``wt330``: WT333E) on a pseudo-terminal of this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from director.errors import MeterConfigError
from director.meters.base import Meter
from director.meters.ptd import PtdMeter
from director.meters.serial_transport import SerialLineTransport
from director.meters.transport import TcpLineTransport
from director.meters.yokogawa import RATES_MS, YokogawaWT310, YokogawaWT330

__all__ = ["PTD_DEFAULT_PORT", "MeterFactory", "MeterUrl", "open_meter", "parse_meter_url", "register_meter_scheme"]

PTD_DEFAULT_PORT = 8888
_OPTIONS = {
    "ptd": {"timeout"},
    "serial": {"model", "rate", "baud", "timeout"},
    "serial+socket": {"model", "rate", "timeout"},
    "sim": {"rate", "signal", "model"},
}
WT310_MODELS = ("wt310", "wt310e")
WT330_MODELS = ("wt330", "wt330e", "wt332", "wt332e", "wt333", "wt333e")
MODELS = WT310_MODELS + WT330_MODELS


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
        """The sample interval the meter gives: PTDaemon's 1 s, or the serial analyzer's ``rate``."""
        if self.scheme == "ptd":
            return 1000
        return round(float(self.options.get("rate", "1")) * 1000)


def parse_meter_url(text: str) -> MeterUrl:
    parts = urlsplit(text)
    if parts.scheme not in _OPTIONS:
        raise MeterConfigError(
            f"unsupported meter URL {text!r}: use ptd://HOST:PORT, serial:///dev/ttyUSB0?model=wt310, "
            "serial+socket://HOST:PORT?model=wt310 or sim://"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    unknown = set(options) - _OPTIONS[parts.scheme]
    if unknown:
        raise MeterConfigError(f"meter URL {text!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        port = parts.port or (PTD_DEFAULT_PORT if parts.scheme == "ptd" else 0)
    except ValueError:
        raise MeterConfigError(f"meter URL {text!r} has an invalid port") from None
    url = MeterUrl(parts.scheme, parts.hostname or "", port, parts.path, options, text)
    if parts.scheme in ("ptd", "serial+socket") and not url.host:
        raise MeterConfigError(f"meter URL {text!r} has no host")
    if parts.scheme == "ptd" and parts.path not in ("", "/"):
        raise MeterConfigError(f"meter URL {text!r}: a ptd:// URL has no path")
    if parts.scheme == "serial" and not parts.path:
        raise MeterConfigError(f"meter URL {text!r} names no serial device, e.g. serial:///dev/ttyUSB0?model=wt310")
    needs_model = parts.scheme.startswith("serial") or "model" in options
    if needs_model and options.get("model", "").lower() not in MODELS:
        raise MeterConfigError(f"meter URL {text!r}: model= must be one of {', '.join(MODELS)}")
    if parts.scheme != "ptd":
        try:
            interval_ms = url.interval_ms
        except ValueError:
            raise MeterConfigError(f"meter URL {text!r}: rate must be seconds, e.g. rate=0.1") from None
        if interval_ms not in RATES_MS:
            raise MeterConfigError(f"meter URL {text!r}: rate must be one of 0.1, 0.25, 0.5, 1 (seconds)")
    return url


def _timeout(url: MeterUrl, default_s: float) -> float:
    try:
        return float(url.options.get("timeout", default_s))
    except ValueError:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a number of seconds") from None


def _yokogawa(url: MeterUrl, transport: SerialLineTransport) -> YokogawaWT310 | YokogawaWT330:
    if url.options["model"].lower() in WT330_MODELS:
        return YokogawaWT330(transport)
    return YokogawaWT310(transport)


def _ptd(url: MeterUrl) -> Meter:
    return PtdMeter(TcpLineTransport(url.host, url.port, timeout_s=_timeout(url, 10.0)))


def _serial(url: MeterUrl) -> Meter:
    baud = int(url.options.get("baud", "9600"))
    return _yokogawa(url, SerialLineTransport(url.path, baudrate=baud, timeout_s=_timeout(url, 2.0)))


def _serial_socket(url: MeterUrl) -> Meter:
    return _yokogawa(url, SerialLineTransport(f"socket://{url.host}:{url.port}", timeout_s=_timeout(url, 2.0)))


MeterFactory = Callable[[MeterUrl], Meter]
# the real meters' drivers; sim:// is registered by the simulator itself (director.meter_sim.register), where
# the commands start, so that this factory never imports a simulator
_FACTORIES: dict[str, MeterFactory] = {"ptd": _ptd, "serial": _serial, "serial+socket": _serial_socket}


def register_meter_scheme(scheme: str, factory: MeterFactory) -> None:
    """Make ``open_meter`` build ``scheme://`` meters with ``factory`` (its URL grammar is parse_meter_url's)."""
    if scheme not in _OPTIONS:
        raise ValueError(f"{scheme}:// is not a meter URL scheme parse_meter_url knows")
    _FACTORIES[scheme] = factory


def open_meter(url: MeterUrl | str) -> Meter:
    """The driver for a URL, not yet connected (call ``open()``)."""
    url = parse_meter_url(url) if isinstance(url, str) else url
    factory = _FACTORIES.get(url.scheme)
    if factory is None:
        raise MeterConfigError(
            f"meter URL {url.text!r}: {url.scheme}:// meters are mlpower's simulator, not loaded here; "
            "call director.meter_sim.register() first (mlpower-director and mlpower-ptd do)"
        )
    return factory(url)
