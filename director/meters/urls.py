"""Meter URLs, validated here before anything connects.

- ``ptd://HOST[:PORT][?timeout=S]``: SPEC PTDaemon's TCP interface (port 8888 by default).
- ``serial:///dev/ttyUSB0?model=wt310[&rate=0.1][&baud=9600]``: a Yokogawa WT310 on a serial port;
  ``model=wt330``, ``wt332``, ``wt333`` (or with ``e``) for the multi-element WT330 family, whose
  element count the driver reads from ``*IDN?``.
- ``serial+socket://HOST:PORT?model=wt310[&rate=0.1]``: the same behind a serial-over-TCP converter.
- ``sim://[?rate=0.1][&signal=host-load][&model=wt310]``: a SIMULATED WT310E (or ``model=wt332``: WT332E,
  ``wt333`` or ``wt330``: WT333E) on a pseudo-terminal of this process.
- ``redfish://HOST[:PORT][/CHASSIS][?rate=1][&timeout=5][&protocol=http][&insecure=1|&ca=PATH]
  [&credentials=PATH][&auth=basic|session][&source=auto|subsystem|legacy]``: a BMC's or smart PDU's wall
  power through the DMTF Redfish API (informative: not an accepted analyzer); https on port 443 by default.
  Credentials never go in the URL (it is recorded with the run): ``credentials=PATH`` or the variables
  ``MLPOWER_REDFISH_USER`` and ``MLPOWER_REDFISH_PASSWORD``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from director.errors import MeterConfigError
from director.meters.base import Meter
from director.meters.none import NoWallMeter
from director.meters.ptd import PtdMeter
from director.meters.redfish import MIN_POLL_MS, RedfishMeter
from director.meters.redfish_transport import PASSWORD_VARIABLE, USER_VARIABLE, CredentialSource, RedfishTransport
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
    "redfish": {"rate", "timeout", "protocol", "insecure", "ca", "credentials", "auth", "source"},
    "none": set(),
}
REDFISH_MAX_RATE_S = 60.0
_SECRET_OPTION = re.compile(r"(?i)^(user(name)?|pass(word)?|pw|secret|token)$")
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
        """The sample interval the meter gives: PTDaemon's 1 s, the serial analyzer's ``rate``, or the Redfish
        meter's poll interval (``rate``)."""
        if self.scheme == "ptd":
            return 1000
        return round(float(self.options.get("rate", "1")) * 1000)


def _redacted(text: str) -> str:
    """The URL as an error message may show it: no user or password before the host, no secret-like option."""
    text = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", text)
    return re.sub(r"([?&])([^=&#]*)=([^&#]*)", lambda m: m.group(0) if not _SECRET_OPTION.match(m.group(2))
                  else f"{m.group(1)}{m.group(2)}=***", text)  # fmt: skip


def parse_meter_url(text: str) -> MeterUrl:
    shown = _redacted(text)
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise MeterConfigError(
            f"meter URL {shown!r}: put no user or password in a meter URL (it is recorded with the run); for "
            f"redfish:// give credentials=PATH or set {USER_VARIABLE} and {PASSWORD_VARIABLE}"
        )
    if parts.scheme not in _OPTIONS:
        raise MeterConfigError(
            f"unsupported meter URL {shown!r}: use ptd://HOST:PORT, serial:///dev/ttyUSB0?model=wt310, "
            "serial+socket://HOST:PORT?model=wt310, redfish://HOST/CHASSIS, sim:// or none:// (no wall meter)"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    unknown = set(options) - _OPTIONS[parts.scheme]
    if any(_SECRET_OPTION.match(k) for k in unknown):
        raise MeterConfigError(
            f"meter URL {shown!r}: put no user or password in a meter URL (it is recorded with the run); for "
            f"redfish:// give credentials=PATH or set {USER_VARIABLE} and {PASSWORD_VARIABLE}"
        )
    if unknown:
        raise MeterConfigError(f"meter URL {shown!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        port = parts.port or (PTD_DEFAULT_PORT if parts.scheme == "ptd" else 0)
    except ValueError:
        raise MeterConfigError(f"meter URL {shown!r} has an invalid port") from None
    if parts.scheme == "none":
        if parts.netloc or parts.path not in ("", "/"):
            raise MeterConfigError(f"meter URL {shown!r}: none:// names nothing (no wall meter): write none://")
        return MeterUrl("none", "", 0, "", {}, text)
    if parts.scheme == "redfish":
        return _check_redfish(MeterUrl(parts.scheme, parts.hostname or "", port, parts.path, options, text))
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


def _check_redfish(url: MeterUrl) -> MeterUrl:
    """A ``redfish://`` URL's host, chassis and options, checked (files included) before anything connects."""
    text, options = url.text, url.options
    if not url.host:
        raise MeterConfigError(f"meter URL {text!r} has no host: redfish://BMC-ADDRESS/CHASSIS")
    chassis = url.path.strip("/").removeprefix("redfish/v1/Chassis/")
    if "/" in chassis:
        raise MeterConfigError(f"meter URL {text!r}: the path is one chassis Id, e.g. redfish://{url.host}/1")
    protocol = options.get("protocol", "https")
    if protocol not in ("http", "https"):
        raise MeterConfigError(f"meter URL {text!r}: protocol= must be https (the default) or http")
    if options.get("insecure", "0") not in ("0", "1"):
        raise MeterConfigError(f"meter URL {text!r}: insecure= must be 1 (accept any certificate) or 0")
    if protocol == "http" and ("ca" in options or "insecure" in options):
        raise MeterConfigError(f"meter URL {text!r}: ca= and insecure= are for https, not protocol=http")
    if options.get("insecure") == "1" and "ca" in options:
        raise MeterConfigError(f"meter URL {text!r}: give ca=PATH or insecure=1, not both")
    for option in ("ca", "credentials"):
        if option in options and not Path(options[option]).is_file():
            raise MeterConfigError(f"meter URL {text!r}: {option}={options[option]} is not a file")
    if options.get("auth", "basic") not in ("basic", "session"):
        raise MeterConfigError(f"meter URL {text!r}: auth= must be basic (the default) or session")
    if options.get("source", "auto") not in ("auto", "subsystem", "legacy"):
        raise MeterConfigError(f"meter URL {text!r}: source= must be auto (the default), subsystem or legacy")
    try:
        rate_s = float(options.get("rate", "1"))
    except ValueError:
        rate_s = -1.0
    if not MIN_POLL_MS / 1000 <= rate_s <= REDFISH_MAX_RATE_S:
        raise MeterConfigError(
            f"meter URL {text!r}: rate= is the poll interval in seconds, {MIN_POLL_MS / 1000:g} to "
            f"{REDFISH_MAX_RATE_S:g} (set it to the device's own update interval, e.g. rate=1)"
        )
    _timeout(url, 5.0)
    port = url.port or (443 if protocol == "https" else 80)
    return MeterUrl(url.scheme, url.host, port, "/" + chassis if chassis else "", options, text)


def _timeout(url: MeterUrl, default_s: float) -> float:
    try:
        timeout_s = float(url.options.get("timeout", default_s))
    except ValueError:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a number of seconds") from None
    if not timeout_s > 0:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a positive number of seconds")
    return timeout_s


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


def _redfish(url: MeterUrl) -> Meter:
    options = url.options
    https = options.get("protocol", "https") == "https"
    verify: bool | Path = Path(options["ca"]) if "ca" in options else options.get("insecure") != "1"
    credentials = CredentialSource.from_environment(Path(options["credentials"]) if "credentials" in options else None)
    transport = RedfishTransport(
        url.host,
        url.port,
        https=https,
        verify=verify,
        timeout_s=_timeout(url, 5.0),
        credentials=credentials,
        auth="session" if options.get("auth") == "session" else "basic",
        name=f"redfish://{f'[{url.host}]' if ':' in url.host else url.host}:{url.port}{url.path}",
    )
    source = options.get("source", "auto")
    return RedfishMeter(transport, url.path.strip("/") or None, "legacy" if source == "legacy" else
                        "subsystem" if source == "subsystem" else "auto")  # fmt: skip


MeterFactory = Callable[[MeterUrl], Meter]
# the real meters' drivers; sim:// is registered by the simulator itself (director.meter_sim.register), where
# the commands start, so that this factory never imports a simulator
_FACTORIES: dict[str, MeterFactory] = {
    "ptd": _ptd,
    "serial": _serial,
    "serial+socket": _serial_socket,
    "redfish": _redfish,
    "none": lambda url: NoWallMeter(),
}


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
