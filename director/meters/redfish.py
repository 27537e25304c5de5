"""Wall power from a BMC or a smart PDU through the DMTF Redfish API: an informative reading, not an analyzer.

What is read, found once at :meth:`RedfishMeter.open` by following the links from the service root:

- the newer model: the chassis' ``PowerSubsystem`` -> ``PowerSupplies`` -> each present supply's ``Metrics``
  (``InputPowerWatts``, else ``PowerWatts``; ``InputVoltage`` and ``InputCurrentAmps`` where given). Each
  supply is a channel; with several, the sample is spl.txt's multichannel one (Watts is their sum);
- the older ``Power`` resource where the chassis has no usable ``PowerSubsystem`` (or ``source=legacy``):
  ``PowerControl[0].PowerConsumedWatts`` (else the sum of ``PowerSupplies[].PowerInputWatts``), with the line
  voltage of the first supply that gives ``LineInputVoltage``. ``LastPowerOutputWatts`` is a supply's DC
  output, not what it draws from the wall, and is not used.

A value no reading gives (current, power factor) is -1, as PTDaemon writes an unknown one.

A BMC updates its readings at its own pace (every second to every ten or more), whatever the poll rate. A
reading is new when its update stamp changed: the ``ReadingTime`` of the Sensor its ``DataSourceUri`` names,
else the resource's ETag (header or ``@odata.etag``), else, last resort, its values. A sample is made once every
channel has a reading newer than the previous sample's, timestamped on the director's clock when the poll that
completed it was sent. A poll in which nothing is new is skipped and counted (``skipped_stale``), never
repeated as a sample; the first sample of a measurement is the first reading that changes after
:meth:`RedfishMeter.start`. A reading that does not parse (no number, a negative one) is rejected and kept in
``rejected_lines``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from director.errors import (
    DirectorError,
    MeterConfigError,
    MeterConnectionError,
    MeterError,
    MeterErrorReply,
    MeterProtocolError,
)
from director.meters.base import MeterIdentity, RangelessMeterBase
from director.meters.model import MeterModel, MeterUrl, url_timeout_s
from director.meters.poll_schedule import PollSchedule
from director.meters.poller import Poller
from director.meters.redfish_transport import SERVICE_ROOT, CredentialSource, RedfishReply, RedfishTransport
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.spl import ChannelSample, PowerSample
from powerlog.tiers import MeasurementTier

__all__ = [
    "MIN_POLL_MS",
    "REDFISH_MAX_RATE_S",
    "REDFISH_MODEL",
    "ChannelPlan",
    "ReadingPlan",
    "RedfishMeter",
    "Source",
    "SupplyListing",
    "check_redfish_url",
    "legacy_channel",
    "open_redfish",
    "power_supplies",
    "supply_channel",
]

MIN_POLL_MS = 100
REDFISH_MAX_RATE_S = 60.0
REDFISH_OPTIONS = frozenset({"rate", "timeout", "protocol", "insecure", "ca", "credentials", "auth", "source"})
UNKNOWN = -1.0
Source = Literal["auto", "subsystem", "legacy"]
INFORMATIVE = "informative only: a BMC/PDU reading through Redfish, not an accepted power analyzer"


class BadReading(DirectorError, ValueError):
    """A resource arrived but holds no usable reading."""


@dataclass(frozen=True)
class ChannelPlan:
    """Where one channel's reading is: the resource, and the Sensor whose ReadingTime dates its power."""

    name: str
    uri: str
    sensor_uri: str | None = None


@dataclass(frozen=True)
class ReadingPlan:
    source: Literal["PowerSubsystem", "Power"]
    channels: tuple[ChannelPlan, ...]


def _number(value: Any) -> float | None:
    """A reading: a number, or a Redfish excerpt ``{"Reading": number}``; None when it gives none."""
    if isinstance(value, dict):
        value = value.get("Reading")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _power(value: float | None, what: str) -> float:
    if value is None:
        raise BadReading(f"{what} gives no reading")
    if value < 0:
        raise BadReading(f"{what} is negative ({value:g} W)")
    return value


def supply_channel(metrics: dict[str, Any], sensor: dict[str, Any] | None = None) -> ChannelSample:
    """A ``PowerSupplyMetrics`` resource -> the channel: input power (the Sensor's ``Reading`` where the Sensor
    was read, so the value and its ReadingTime belong together), input voltage and current (-1: not given)."""
    key = "InputPowerWatts" if "InputPowerWatts" in metrics else "PowerWatts"
    watts = _number(sensor) if sensor is not None else _number(metrics.get(key))
    volts, amps = _number(metrics.get("InputVoltage")), _number(metrics.get("InputCurrentAmps"))
    return ChannelSample(
        _power(watts, key), UNKNOWN if volts is None else volts, UNKNOWN if amps is None else amps, UNKNOWN
    )


def legacy_channel(power: dict[str, Any]) -> ChannelSample:
    """The older ``Power`` resource -> one channel: the chassis' consumed power and the supplies' line voltage."""
    controls = power.get("PowerControl") or []
    supplies = [s for s in power.get("PowerSupplies") or [] if isinstance(s, dict)]
    watts = _number(controls[0].get("PowerConsumedWatts")) if controls and isinstance(controls[0], dict) else None
    what = "PowerControl[0].PowerConsumedWatts"
    if watts is None:
        inputs = [_number(s.get("PowerInputWatts")) for s in supplies]
        if inputs and all(w is not None for w in inputs):
            watts, what = sum(w for w in inputs if w is not None), "the sum of PowerSupplies[].PowerInputWatts"
    volts = next((v for s in supplies if (v := _number(s.get("LineInputVoltage"))) is not None), None)
    return ChannelSample(_power(watts, what), UNKNOWN if volts is None else volts, UNKNOWN, UNKNOWN)


def _link(resource: dict[str, Any], key: str) -> str | None:
    target = resource.get(key)
    uri = target.get("@odata.id") if isinstance(target, dict) else None
    return uri if isinstance(uri, str) and uri else None


def _members(collection: dict[str, Any]) -> list[str]:
    members = collection.get("Members") or []
    return [m["@odata.id"] for m in members if isinstance(m, dict) and isinstance(m.get("@odata.id"), str)]


def check_redfish_url(url: MeterUrl) -> MeterUrl:
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
    url_timeout_s(url, 5.0)
    port = url.port or (443 if protocol == "https" else 80)
    return MeterUrl(url.scheme, url.host, port, "/" + chassis if chassis else "", options, text)


def open_redfish(url: MeterUrl) -> RedfishMeter:
    """The driver a checked ``redfish://`` URL names, not yet connected."""
    options = url.options
    https = options.get("protocol", "https") == "https"
    verify: bool | Path = Path(options["ca"]) if "ca" in options else options.get("insecure") != "1"
    credentials = CredentialSource.from_environment(Path(options["credentials"]) if "credentials" in options else None)
    transport = RedfishTransport(
        url.host,
        url.port,
        https=https,
        verify=verify,
        timeout_s=url_timeout_s(url, 5.0),
        credentials=credentials,
        auth="session" if options.get("auth") == "session" else "basic",
        name=f"redfish://{f'[{url.host}]' if ':' in url.host else url.host}:{url.port}{url.path}",
    )
    source = options.get("source", "auto")
    return RedfishMeter(transport, url.path.strip("/") or None, "legacy" if source == "legacy" else
                        "subsystem" if source == "subsystem" else "auto")  # fmt: skip


@dataclass(frozen=True)
class SupplyListing:
    """A chassis' power supplies as its Redfish service describes them (capacity, model, serial, redundancy)."""

    chassis_uri: str
    chassis: dict[str, Any]
    source: Literal["PowerSubsystem", "Power"]
    supplies: tuple[dict[str, Any], ...]  # each PowerSupply resource (or legacy Power.PowerSupplies member)
    redundancy: tuple[dict[str, Any], ...]  # PowerSupplyRedundancy (PowerSubsystem) or Redundancy (Power)


def power_supplies(meter: RedfishMeter) -> SupplyListing:
    """The power supplies of ``meter``'s chassis, found as :meth:`RedfishMeter.open` finds it (its transport must be
    open): the PowerSubsystem's, else the older Power resource's. No reading is needed, only the descriptions."""
    root = meter.transport.get(SERVICE_ROOT).body
    chassis_uri, chassis = meter._chassis(root)
    subsystem_uri, power_uri = _link(chassis, "PowerSubsystem"), _link(chassis, "Power")
    if subsystem_uri and meter.source != "legacy":
        subsystem = meter.transport.get(subsystem_uri).body
        collection = _link(subsystem, "PowerSupplies")
        uris = _members(meter.transport.get(collection).body) if collection else []
        if uris:
            groups = [g for g in subsystem.get("PowerSupplyRedundancy") or [] if isinstance(g, dict)]
            supplies = tuple(meter.transport.get(uri).body for uri in uris)
            return SupplyListing(chassis_uri, chassis, "PowerSubsystem", supplies, tuple(groups))
    if power_uri and meter.source != "subsystem":
        power = meter.transport.get(power_uri).body
        supplies = tuple(s for s in power.get("PowerSupplies") or [] if isinstance(s, dict))
        groups = [g for g in power.get("Redundancy") or [] if isinstance(g, dict)]
        return SupplyListing(chassis_uri, chassis, "Power", supplies, tuple(groups))
    raise MeterProtocolError(
        f"chassis {chassis_uri} lists no power supplies (neither PowerSubsystem/PowerSupplies nor Power)",
        meter=meter.name, command=f"GET {chassis_uri}",
    )  # fmt: skip


REDFISH_MODEL = MeterModel(
    name="Redfish BMC or PDU",
    schemes=("redfish",),
    tier=MeasurementTier.BMC,
    open=open_redfish,
    options={"redfish": REDFISH_OPTIONS},
    has_ranges=False,
    check_url=check_redfish_url,
    example="redfish://HOST/CHASSIS",
)


class RedfishMeter(RangelessMeterBase):
    """Implements the ``Meter`` protocol for a chassis' wall power read through Redfish.

    ``chassis``: the chassis' Id (None: the only chassis, or the only one with power readings). ``source``:
    ``auto`` (PowerSubsystem, else Power), ``subsystem`` or ``legacy`` (only that one)."""

    meter_model = REDFISH_MODEL

    def __init__(self, transport: RedfishTransport, chassis: str | None = None, source: Source = "auto") -> None:
        self.transport = transport
        self.chassis = chassis
        self.source: Source = source
        self.name = transport.name
        self.identity: MeterIdentity | None = None
        self.plan: ReadingPlan | None = None
        self.rejected_lines: list[BadLine] = []
        self.skipped_stale = 0
        self.freshness: str | None = None  # how the last reading was known to be new: ReadingTime, ETag or value
        self._poller: Poller[PowerSample] = Poller(self.name)
        self._mark = ""
        self._last: list[Hashable] = []  # each channel's stamp in the last sample (or the baseline)
        self._schedule: PollSchedule | None = None  # the polls of the measurement started last

    @property
    def exchanges(self) -> Sequence[Exchange]:
        return self.transport.exchanges

    @property
    def update_interval_s(self) -> float | None:
        """The device's own update interval as seen so far (the median between samples); None before two."""
        return self._schedule.update_interval_s if self._schedule is not None else None

    # connecting ------------------------------------------------------------------------
    def open(self) -> None:
        self._stop_thread()
        self.transport.open()
        try:
            root = self.transport.get(SERVICE_ROOT).body
            if "RedfishVersion" not in root and "Chassis" not in root:
                raise MeterProtocolError(
                    f"{SERVICE_ROOT} is not a Redfish service root (no RedfishVersion): is this the BMC's address?",
                    meter=self.name,
                    command=f"GET {SERVICE_ROOT}",
                )
            chassis_uri, chassis = self._chassis(root)
            self.plan = self._plan(chassis_uri, chassis)
            self.identity = self._identity(root, chassis_uri, chassis, self.plan)
        except BaseException:
            self.transport.close()
            raise

    def _chassis(self, root: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        collection_uri = _link(root, "Chassis") or f"{SERVICE_ROOT}/Chassis"
        if self.chassis:
            uri = f"{collection_uri.rstrip('/')}/{self.chassis}"
            return uri, self._get_named(uri, f"chassis {self.chassis!r}", collection_uri)
        uris = _members(self.transport.get(collection_uri).body)
        candidates = [(uri, self.transport.get(uri).body) for uri in uris]
        if len(candidates) > 1:
            candidates = [(u, c) for u, c in candidates if _link(c, "PowerSubsystem") or _link(c, "Power")]
        if len(candidates) != 1:
            ids = ", ".join(uri.rstrip("/").rsplit("/", 1)[-1] for uri in uris) or "none"
            raise MeterProtocolError(
                f"name the chassis to read in the URL, redfish://HOST/<chassis>: {len(candidates)} of the service's "
                f"chassis ({ids}) have power readings",
                meter=self.name,
                command=f"GET {collection_uri}",
            )
        return candidates[0]

    def _get_named(self, uri: str, what: str, collection_uri: str) -> dict[str, Any]:
        try:
            return self.transport.get(uri).body
        except MeterErrorReply as e:
            if not (e.reply or "").startswith("HTTP 404"):
                raise
            try:
                ids = ", ".join(
                    u.rstrip("/").rsplit("/", 1)[-1] for u in _members(self.transport.get(collection_uri).body)
                )
            except MeterError:
                ids = "?"
            raise MeterErrorReply(
                f"the service has no {what} (its chassis: {ids or 'none'})", meter=self.name, command=f"GET {uri}",
                reply=e.reply,
            ) from None  # fmt: skip

    def _plan(self, chassis_uri: str, chassis: dict[str, Any]) -> ReadingPlan:
        subsystem_uri, power_uri = _link(chassis, "PowerSubsystem"), _link(chassis, "Power")
        why = "the chassis links no PowerSubsystem"
        if subsystem_uri and self.source != "legacy":
            channels = self._supplies(subsystem_uri)
            if channels:
                return ReadingPlan("PowerSubsystem", channels)
            why = "its PowerSubsystem has no power supply with an input power reading"
        if power_uri and self.source != "subsystem":
            body = self.transport.get(power_uri).body
            try:
                legacy_channel(body)
            except BadReading as e:
                raise MeterProtocolError(
                    f"the chassis' Power resource has no wall power reading: {e}", meter=self.name,
                    command=f"GET {power_uri}",
                ) from None  # fmt: skip
            return ReadingPlan("Power", (ChannelPlan("Power", power_uri),))
        wanted = {"auto": "neither a usable PowerSubsystem nor a Power resource", "subsystem": why,
                  "legacy": "no Power resource"}[self.source]  # fmt: skip
        raise MeterProtocolError(
            f"chassis {chassis_uri} has {wanted}: no wall power to read there (another chassis, or source=auto?)",
            meter=self.name,
            command=f"GET {chassis_uri}",
        )

    def _supplies(self, subsystem_uri: str) -> tuple[ChannelPlan, ...]:
        subsystem = self.transport.get(subsystem_uri).body
        collection = _link(subsystem, "PowerSupplies")
        if collection is None:
            return ()
        channels = []
        for uri in _members(self.transport.get(collection).body):
            supply = self.transport.get(uri).body
            status = supply.get("Status")
            metrics_uri = _link(supply, "Metrics")
            if metrics_uri is None or (isinstance(status, dict) and status.get("State") == "Absent"):
                continue
            metrics = self.transport.get(metrics_uri).body
            key = "InputPowerWatts" if "InputPowerWatts" in metrics else "PowerWatts"
            excerpt = metrics.get(key)
            sensor = excerpt.get("DataSourceUri") if isinstance(excerpt, dict) else None
            if _number(excerpt) is None and not isinstance(sensor, str):
                continue
            name = str(supply.get("Id") or uri.rstrip("/").rsplit("/", 1)[-1])
            channels.append(ChannelPlan(name, metrics_uri, sensor if isinstance(sensor, str) else None))
        return tuple(channels)

    def _identity(
        self, root: dict[str, Any], chassis_uri: str, chassis: dict[str, Any], plan: ReadingPlan
    ) -> MeterIdentity:
        def words(resource: dict[str, Any], *keys: str) -> str:
            return " ".join(str(resource.get(k) or "").strip() for k in keys if str(resource.get(k) or "").strip())

        service, hardware = words(root, "Vendor", "Product"), words(chassis, "Manufacturer", "Model")
        version = str(root.get("RedfishVersion") or "") or None
        simulated = "SIMULATED" in f"{service} {hardware}".upper()
        if plan.source == "PowerSubsystem":
            names = ", ".join(c.name for c in plan.channels)
            where = f"PowerSubsystem ({len(plan.channels)} power supplies: {names})"
        else:
            where = "the Power resource (PowerControl[0].PowerConsumedWatts)"
        raw = "; ".join(
            part
            for part in (
                f"Redfish {version or '?'} service {service or '(no vendor or product given)'}",
                f"chassis {chassis_uri}: {hardware or '(no manufacturer or model given)'}",
                f"wall power from {where}",
                INFORMATIVE,
                "SIMULATED" if simulated else "",
            )
            if part
        )
        return MeterIdentity(
            model=f"Redfish BMC/PDU {hardware or 'unnamed'}",
            version=f"Redfish {version}" if version else None,
            channels=len(plan.channels),
            dc=False,
            simulated=simulated,
            raw=raw,
        )

    def close(self) -> None:
        self._stop_thread()
        self.transport.close()

    def identify(self) -> MeterIdentity:
        if self.identity is None:
            raise MeterConnectionError("not connected (call open() first)", meter=self.name)
        return self.identity

    # measuring -------------------------------------------------------------------------
    def _read(self) -> tuple[int, list[Hashable], list[ChannelSample]]:
        """One poll: when it was sent, each channel's update stamp and reading. BadReading when one is unusable."""
        assert self.plan is not None
        sent_ns: int | None = None
        stamps: list[Hashable] = []
        channels: list[ChannelSample] = []
        for plan in self.plan.channels:
            reply = self.transport.get(plan.uri, record=False)
            sent_ns = reply.sent_utc_ns if sent_ns is None else sent_ns
            sensor = self.transport.get(plan.sensor_uri, record=False) if plan.sensor_uri else None
            try:
                if self.plan.source == "Power":
                    channel = legacy_channel(reply.body)
                else:
                    channel = supply_channel(reply.body, sensor.body if sensor else None)
            except BadReading as e:
                raise BadReading(f"{plan.uri}: {e}") from None
            stamps.append(self._stamp(reply, sensor, channel))
            channels.append(channel)
        assert sent_ns is not None
        return sent_ns, stamps, channels

    def _stamp(self, reply: RedfishReply, sensor: RedfishReply | None, channel: ChannelSample) -> Hashable:
        reading_time = sensor.body.get("ReadingTime") if sensor is not None else None
        if isinstance(reading_time, str) and reading_time:
            self.freshness = "ReadingTime"
            return ("ReadingTime", reading_time)
        if reply.etag:
            self.freshness = "ETag"
            return ("ETag", reply.etag)
        self.freshness = "value"
        return ("value", channel)

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        if interval_ms < MIN_POLL_MS:
            raise ValueError(f"a Redfish meter is polled every {MIN_POLL_MS} ms at the most, not every {interval_ms}")
        if self.plan is None:
            raise MeterConnectionError("not connected (call open() first)", meter=self.name)
        self._stop_thread()
        self._mark = mark
        self._last = []
        for _ in range(3):  # the baseline: what the device shows now is not a reading of this measurement
            try:
                _, self._last, _ = self._read()
                break
            except BadReading as e:
                self._reject(str(e))
        interval_s = interval_ms / 1000
        schedule = PollSchedule(interval_s, time.monotonic(), random.uniform(0.0, interval_s), MIN_POLL_MS / 1000)
        self._schedule = schedule
        self._poller.start(lambda: self._poll(schedule), f"redfish {self.name}")

    def _reject(self, reason: str) -> None:
        self.rejected_lines.append(BadLine(self.name, 0, reason[:300], ""))

    def _poll(self, schedule: PollSchedule) -> None:
        """Poll by ``schedule`` (a random start, catching up with the device's updates: see
        :mod:`~director.meters.poll_schedule`) until stopped; a refusal or a lost link ends the loop (the poller
        keeps it)."""
        while not self._poller.stopping.wait(max(0.0, schedule.next_s - time.monotonic())):
            polled_s, new = time.monotonic(), False
            try:
                sent_ns, stamps, channels = self._read()
            except MeterErrorReply:  # refused (credentials, privileges): polling on will not help
                raise
            except (BadReading, MeterProtocolError) as e:  # an unusable reading, or one garbled reply
                self._reject(str(e))
            else:
                new = self._take(sent_ns, stamps, channels)
            schedule.polled(polled_s, new)

    def _take(self, sent_ns: int, stamps: list[Hashable], channels: list[ChannelSample]) -> bool:
        """Keep the reading if every channel is new since the last sample; whether it was."""
        fresh = [i >= len(self._last) or stamp != self._last[i] for i, stamp in enumerate(stamps)]
        if not any(fresh):
            self.skipped_stale += 1  # nothing new since the last sample: never repeated as one
            return False
        if not all(fresh):
            return False  # some supplies updated, others not yet: wait for the rest
        if len(channels) == 1:
            ch = channels[0]
            sample = PowerSample(sent_ns, ch.power_w, ch.volts_v, ch.amps_a, ch.pf, self._mark)
        else:
            sample = PowerSample.multichannel(sent_ns, tuple(channels), self._mark)
        self._last = stamps
        self._poller.put(sample)
        return True

    @property
    def poll_error(self) -> MeterError | None:
        """The error that ended the polling loop, if one did (raised by the read after the last sample)."""
        return self._poller.error

    def read_new(self) -> list[PowerSample]:
        return self._poller.take()

    def _stop_thread(self) -> bool:
        return self._poller.stop(join_timeout_s=self.transport.timeout_s * 4 + 5)

    def stop(self) -> bool:
        return self._stop_thread()
