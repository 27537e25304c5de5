"""Measurement tiers: what a result's wall power was measured with, and what it may therefore claim.

Only the first tier can be an MLPerf power result; the others are measured and checked the same way
(ranging and testing, LoadGen's window, clock correction, the rules) and say plainly what they are.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["INFORMATIVE_TIERS", "MeasurementTier", "tier_description", "tier_of_meter", "tier_of_meter_url"]


class MeasurementTier(StrEnum):
    PTDAEMON = "ptdaemon"  # an analyzer through SPEC PTDaemon: the MLPerf way
    DIRECT = "direct"  # an analyzer read directly by mlpower's driver (serial), no PTDaemon
    BMC = "bmc"  # a BMC or smart PDU through Redfish: informative
    COMPONENTS = "components"  # component counters only (RAPL, hwmon, GPUs), no wall meter: informative


INFORMATIVE_TIERS = frozenset({MeasurementTier.BMC, MeasurementTier.COMPONENTS})

_DESCRIPTIONS = {
    MeasurementTier.PTDAEMON: "an analyzer through SPEC PTDaemon (the MLPerf way; valid when the analyzer and the "
    "PTDaemon version are accepted)",
    MeasurementTier.DIRECT: "an analyzer read directly by mlpower's driver, without PTDaemon: checked as usual, but an "
    "MLPerf power submission must be measured through PTDaemon",
    MeasurementTier.BMC: "a BMC or PDU through Redfish: informative, never an MLPerf power result (its readings are "
    "the device's own, at its own update rate and accuracy)",
    MeasurementTier.COMPONENTS: "component counters only (RAPL, hwmon, GPUs), no wall meter: informative, never an "
    "MLPerf power result (components are not the whole system)",
}

# a run folder's URL scheme -> its tier, for readers without the director (the analyzer); the director reads the
# tier each meter model declares (director.meters.registry.tier_of_url), and a test keeps the two in step
_SCHEMES = {
    "ptd": MeasurementTier.PTDAEMON,
    "serial": MeasurementTier.DIRECT,
    "serial+socket": MeasurementTier.DIRECT,
    "sim": MeasurementTier.DIRECT,
    "redfish": MeasurementTier.BMC,
    "none": MeasurementTier.COMPONENTS,  # no wall meter: the SUT's component counters alone
}
_WEAKEST_FIRST = (MeasurementTier.COMPONENTS, MeasurementTier.BMC, MeasurementTier.DIRECT, MeasurementTier.PTDAEMON)


def tier_description(tier: MeasurementTier) -> str:
    return _DESCRIPTIONS[tier]


def tier_of_meter_url(url: str) -> MeasurementTier | None:
    """The tier of a director's meter URL(s) (several joined with `` + ``): the weakest of its meters, since a
    sum is only as good as its least accurate part. None when no part is an mlpower meter URL."""
    tiers = {_SCHEMES.get(part.strip().split("://", 1)[0]) for part in url.split(" + ") if "://" in part}
    tiers.discard(None)
    return next((t for t in _WEAKEST_FIRST if t in tiers), None)


def tier_of_meter(url: str | None, ptd_version: str | None) -> MeasurementTier | None:
    """The tier of a meter URL given what the meter said it is: a PTDaemon whose Identify reply names mlpower-ptd
    (mlpower's PTDaemon-protocol server in front of an analyzer it reads itself, not SPEC PTDaemon) makes a
    directly read analyzer, whatever the URL. None when neither tells."""
    tier = tier_of_meter_url(url) if url else None
    if tier in (None, MeasurementTier.PTDAEMON) and ptd_version is not None and ptd_version.startswith("mlpower-ptd"):
        return MeasurementTier.DIRECT
    return tier
