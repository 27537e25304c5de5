"""server.json ``ptd_config``: which analyzers measured the session, in power-dev's shape.

The official power checker reads ``ptd_config`` as a list of analyzers (from v5.1), each with
``command``, ``device_type``, ``interface_flag``, ``dc_flag``, ``device_port`` and ``channel``, and
wants a WT330 multichannel (type 77) configured with two channel numbers, in ``channel`` and as
``-c`` in ``command``. mlpower writes one entry per meter it read, PTDaemon or direct alike:
``command`` is how the director reached the meter (its URL), ``device_type`` PTDaemon's number for
the model that answered, ``channel`` the channels the director summed (``[1, n]``; a WT500 ``[n]``),
and ``simulated`` whether that meter was mlpower's simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from powerlog.ptd_identity import ACCEPTED_ANALYZERS, MeterIdentity, device_type_of

__all__ = ["ptd_config_entries"]

METER_URL_SEPARATOR = " + "  # how a group of meters is written in one meter URL


def ptd_config_entries(meter_url: str, identities: Sequence[MeterIdentity]) -> list[dict[str, Any]]:
    urls = meter_url.split(METER_URL_SEPARATOR)
    return [_entry(url, identity) for url, identity in zip(urls, identities, strict=False)]


def _entry(url: str, identity: MeterIdentity) -> dict[str, Any]:
    device = device_type_of(identity.model, identity.channels, identity.dc)
    channel: list[int] | None = None
    command = [url]
    if device == ACCEPTED_ANALYZERS["YokogawaWT500_multichannel"]:
        channel = [identity.channels]
    elif identity.channels > 1:
        channel = [1, identity.channels]
        command += ["-c", f"1,{identity.channels}"]
    # how PTDaemon reaches the analyzer (its interface flag, DC flag) is not known to the director
    return {
        "command": command,
        "device_type": device,
        "interface_flag": "",
        "dc_flag": None,
        "device_port": url.partition("://")[2].split("?", 1)[0] or url,
        "channel": channel,
        "simulated": identity.simulated,  # mlpower's own key: the official checker reads only the others
    }
