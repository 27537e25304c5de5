"""Meter URLs, validated here before anything connects.

``ptd://HOST[:PORT]`` (PTDaemon's TCP interface; port 8888 by default). The serial
and simulated schemes come with their drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from director.errors import MeterConfigError
from director.meters.ptd import PtdMeter
from director.meters.transport import TcpLineTransport

__all__ = ["PTD_DEFAULT_PORT", "MeterUrl", "open_meter", "parse_meter_url"]

PTD_DEFAULT_PORT = 8888


@dataclass(frozen=True)
class MeterUrl:
    scheme: str
    host: str
    port: int
    options: dict[str, str]
    text: str


def parse_meter_url(text: str) -> MeterUrl:
    parts = urlsplit(text)
    if parts.scheme != "ptd":
        raise MeterConfigError(f"unsupported meter URL {text!r}: use ptd://HOST:PORT")
    if not parts.hostname:
        raise MeterConfigError(f"meter URL {text!r} has no host: use ptd://HOST:PORT")
    try:
        port = parts.port or PTD_DEFAULT_PORT
    except ValueError:
        raise MeterConfigError(f"meter URL {text!r} has an invalid port") from None
    if parts.path not in ("", "/"):
        raise MeterConfigError(f"meter URL {text!r}: a ptd:// URL has no path")
    options = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    unknown = set(options) - {"timeout"}
    if unknown:
        raise MeterConfigError(f"meter URL {text!r}: unknown option(s) {', '.join(sorted(unknown))}")
    return MeterUrl(parts.scheme, parts.hostname, port, options, text)


def open_meter(url: MeterUrl | str) -> PtdMeter:
    """The driver for a URL, not yet connected (call ``open()``)."""
    url = parse_meter_url(url) if isinstance(url, str) else url
    try:
        timeout_s = float(url.options.get("timeout", "10"))
    except ValueError:
        raise MeterConfigError(f"meter URL {url.text!r}: timeout must be a number of seconds") from None
    return PtdMeter(TcpLineTransport(url.host, url.port, timeout_s=timeout_s))
