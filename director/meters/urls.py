"""Meter URLs, validated here before anything connects, and the driver each names.

The schemes, options, ``model=`` names and update rates are those the drivers declare
(:class:`~director.meters.model.MeterModel`, found by :mod:`director.meters.registry`):

- ``ptd://HOST[:PORT][?timeout=S]``: SPEC PTDaemon's TCP interface (port 8888 by default).
- ``serial:///dev/ttyUSB0?model=wt310[&rate=0.1][&baud=9600]``: a Yokogawa WT310 on a serial port;
  ``model=wt330``, ``wt332``, ``wt333`` (or with ``e``) for the multi-element WT330 family, whose
  element count the driver reads from ``*IDN?``.
- ``serial+socket://HOST:PORT?model=wt310[&rate=0.1]``: the same behind a serial-over-TCP converter.
- ``sim://[?rate=0.1][&signal=host-load][&model=wt310]``: a SIMULATED WT310E (or ``model=wt332``: WT332E,
  ``wt333`` or ``wt330``: WT333E) on a pseudo-terminal of this process: any model that declares a simulator.
- ``redfish://HOST[:PORT][/CHASSIS][?rate=1][&timeout=5][&protocol=http][&insecure=1|&ca=PATH]
  [&credentials=PATH][&auth=basic|session][&source=auto|subsystem|legacy]``: a BMC's or smart PDU's wall
  power through the DMTF Redfish API (informative: not an accepted analyzer); https on port 443 by default.
  Credentials never go in the URL (it is recorded with the run): ``credentials=PATH`` or the variables
  ``MLPOWER_REDFISH_USER`` and ``MLPOWER_REDFISH_PASSWORD``.
- ``none://``: no wall meter (the SUT's component counters only).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from director.errors import MeterConfigError
from director.meters.base import Meter
from director.meters.model import MeterFactory, MeterModel, MeterUrl
from director.meters.ptd import PTD_DEFAULT_PORT
from director.meters.redfish_transport import PASSWORD_VARIABLE, USER_VARIABLE
from director.meters.registry import meter_models, model_for_url, scheme_options, url_models

__all__ = ["PTD_DEFAULT_PORT", "MeterFactory", "MeterUrl", "model_of_url", "open_meter", "parse_meter_url"]

_SECRET_OPTION = re.compile(r"(?i)^(user(name)?|pass(word)?|pw|secret|token)$")


def _redacted(text: str) -> str:
    """The URL as an error message may show it: no user or password before the host, no secret-like option."""
    text = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", text)
    return re.sub(r"([?&])([^=&#]*)=([^&#]*)", lambda m: m.group(0) if not _SECRET_OPTION.match(m.group(2))
                  else f"{m.group(1)}{m.group(2)}=***", text)  # fmt: skip


def _no_credentials(shown: str) -> MeterConfigError:
    return MeterConfigError(
        f"meter URL {shown!r}: put no user or password in a meter URL (it is recorded with the run); for "
        f"redfish:// give credentials=PATH or set {USER_VARIABLE} and {PASSWORD_VARIABLE}"
    )


def _unsupported(shown: str) -> MeterConfigError:
    examples: dict[str, str] = {}
    for model in meter_models():
        examples.setdefault(model.schemes[0], model.example)  # a scheme's first model gives its example
    return MeterConfigError(f"unsupported meter URL {shown!r}: use {', '.join(examples.values())} or sim://")


def parse_meter_url(text: str) -> MeterUrl:
    shown = _redacted(text)
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise _no_credentials(shown)
    options_by_scheme = scheme_options()
    if parts.scheme not in options_by_scheme:
        raise _unsupported(shown)
    options = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    unknown = set(options) - options_by_scheme[parts.scheme]
    if any(_SECRET_OPTION.match(k) for k in unknown):
        raise _no_credentials(shown)
    if unknown:
        raise MeterConfigError(f"meter URL {shown!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        port = parts.port or 0
    except ValueError:
        raise MeterConfigError(f"meter URL {shown!r} has an invalid port") from None
    url = MeterUrl(parts.scheme, parts.hostname or "", port, parts.path, options, text)
    # the scheme's own checks first (models sharing a scheme share them), then its model=
    for check in dict.fromkeys(m.check_url for m in meter_models() if url.scheme in m.schemes and m.check_url):
        url = check(url)
    model = model_of_url(url)
    if model.default_port and not url.port:
        url = MeterUrl(url.scheme, url.host, model.default_port, url.path, url.options, url.text)
    if model.rates_ms:
        _check_rate(url, model)
    return url


def model_of_url(url: MeterUrl) -> MeterModel:
    """The declared model a URL names: its scheme's, or where models share a scheme, its ``model=``'s."""
    model = model_for_url(url)
    if model is None:
        names = url_models(url.scheme)
        raise MeterConfigError(f"meter URL {url.text!r}: model= must be one of {', '.join(names)}")
    return model


def _check_rate(url: MeterUrl, model: MeterModel) -> None:
    try:
        interval_ms = url.interval_ms
    except ValueError:
        raise MeterConfigError(f"meter URL {url.text!r}: rate must be seconds, e.g. rate=0.1") from None
    if interval_ms not in model.rates_ms:
        rates = ", ".join(f"{ms / 1000:g}" for ms in sorted(model.rates_ms))
        raise MeterConfigError(f"meter URL {url.text!r}: rate must be one of {rates} (seconds)")


def open_meter(url: MeterUrl | str) -> Meter:
    """The driver for a URL, not yet connected (call ``open()``); ``sim://`` imports the model's simulator."""
    url = parse_meter_url(url) if isinstance(url, str) else url
    model = model_of_url(url)
    return model.simulated(url) if url.scheme == "sim" else model.open(url)
