"""What a meter says it is (:class:`MeterIdentity`, the one identity type of drivers and session records), and
PTDaemon's ``Identify`` reply, as recorded in session records and read by the director.

``YokogawaWT330E,1000,1,1,1,1,0,0,1,version=1.9.2-3976349f-20201208,OS=...,mode=power,1,1,1,0,0,...``:
the model, the averaging interval, capability flags, ``version=``, ``OS=``, ``mode=``
(power or dc) and then three numbers, the last of which is the analyzer's element count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from powerlog.errors import PowerlogError

__all__ = [
    "ACCEPTED_ANALYZERS",
    "IdentifyError",
    "MeterIdentity",
    "channel_selection",
    "device_type_of",
    "parse_identify_reply",
]

_MODEL = re.compile(r"[A-Za-z][\w.-]*")
_VERSION_NUMBER = re.compile(r"\d+(?:\.\d+)+")
_ELEMENT_COUNT = re.compile(r"[0-9]{1,4}")


class IdentifyError(PowerlogError, ValueError):
    """The text is not an Identify reply."""


@dataclass(frozen=True)
class MeterIdentity:
    """What a meter said it is: a driver's ``identify()``, ``session.json``'s ``meter.identity``, a parsed
    Identify reply. ``channels``: the channels its samples carry (a PTDaemon multichannel analyzer's, at
    least 2; 0 for no wall meter)."""

    model: str
    version: str | None = None  # "1.9.2" for PTDaemon's "1.9.2-3976349f-20201208"; the whole string otherwise
    channels: int = 1
    dc: bool = False
    simulated: bool = False
    raw: str = ""

    @property
    def multichannel(self) -> bool:
        return "multichannel" in self.model.lower()


def parse_identify_reply(reply: str) -> MeterIdentity:
    """The identity an Identify reply gives; a multichannel analyzer has at least 2 channels, any other 1."""
    fields = reply.split(",")
    model = fields[0].strip()
    if len(fields) < 2 or not _MODEL.fullmatch(model):
        raise IdentifyError(f"not an Identify reply: {reply!r}")
    raw_version = next((f.split("=", 1)[1] for f in fields if f.startswith("version=")), None)
    version = raw_version
    if raw_version:
        number = _VERSION_NUMBER.match(raw_version)
        version = number.group(0) if number else raw_version
    mode_index = next((i for i, f in enumerate(fields) if f.startswith("mode=")), None)
    elements = 1
    dc = model.upper().endswith("_DC")
    if mode_index is not None:
        dc = dc or fields[mode_index].split("=", 1)[1].strip().lower() == "dc"
        after = fields[mode_index + 1 : mode_index + 4]
        if len(after) == 3 and after[2].strip().isdigit():
            count = after[2].strip()
            if not _ELEMENT_COUNT.fullmatch(count):  # isdigit() also takes '²' and digits int() refuses to read
                raise IdentifyError(f"element count {count[:20]!r} after mode= is not a number 0-9999: {reply[:200]!r}")
            elements = max(1, int(count))
    channels = max(elements, 2) if "multichannel" in model.lower() else 1
    return MeterIdentity(model, version, channels, dc, "simulated" in reply.lower(), reply)


# Identify-reply model names of the analyzers the power rules accept, with PTDaemon's device type numbers.
ACCEPTED_ANALYZERS: dict[str, int] = {
    "YokogawaWT210": 8,
    "YokogawaWT500": 35,
    "YokogawaWT500_multichannel": 48,
    "YokogawaWT310": 49,
    "YokogawaWT310E": 49,
    "YokogawaWT330": 52,
    "YokogawaWT330E": 52,
    "YokogawaWT330_multichannel": 77,
    "YokogawaWT210_DC": 508,
    "YokogawaWT310_DC": 549,
    "YokogawaWT330_DC": 586,
}
_FAMILIES = ("WT210", "WT310", "WT330", "WT500")
_MULTICHANNEL_TYPES = {"WT330": 77, "WT500": 48}


def device_type_of(model: str, channels: int = 1, dc: bool = False) -> int | None:
    """PTDaemon's device type number for an analyzer model as a driver or simulator names it
    (``YokogawaWT310E``, ``SimulatedWT330_multichannel``, ``YokogawaWT333`` read over serial); None
    for a model outside the Yokogawa families the rules accept."""
    base = model.removeprefix("Simulated").removeprefix("Yokogawa").split("_")[0]
    family = next((f for f in _FAMILIES if base.startswith(f[:4])), None)
    if family is None:
        return None
    if channels > 1 and family in _MULTICHANNEL_TYPES and not dc:
        return _MULTICHANNEL_TYPES[family]
    return ACCEPTED_ANALYZERS.get(f"Yokogawa{family}{'_DC' if dc else ''}")


def channel_selection(device_type: int | None, channel: Sequence[int] | None) -> tuple[int, int]:
    """(first channel, how many) of a PTDaemon ``-c`` setting as power-dev reads it: ``[start, count]``,
    a WT500 multichannel's ``[count]`` counted from channel 1, a lone start number counts none (power-dev
    then uses the totals alone); (0, 0) when none is set."""
    if not channel:
        return 0, 0
    if device_type == ACCEPTED_ANALYZERS["YokogawaWT500_multichannel"]:
        return 1, channel[0]
    return channel[0], channel[1] if len(channel) > 1 else 0
