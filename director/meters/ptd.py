"""SPEC PTDaemon over TCP: the driver and its reply parsers.

The parsers are pure functions of one reply (fuzzed in the tests); the driver
sends command words through a :class:`~director.meters.transport.LineTransport`
and never touches the socket itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from director.errors import MeterConfigError, MeterErrorReply, MeterProtocolError, NotPtdaemonError
from director.meters.base import MeterBase, MeterIdentity
from director.meters.model import MeterModel, MeterUrl, url_timeout_s
from director.meters.ranges import Ranges, check_ranges
from director.meters.transport import Exchange, LineTransport, TcpLineTransport
from powerlog.lines import BadLine
from powerlog.ptd_identity import IdentifyError, parse_identify_reply
from powerlog.ptd_replies import (
    BAD_PARAMS_REPLY,
    HELLO_REPLY,
    NOTHING_TO_STOP_REPLY,
    STOP_REPLY,
    UNKNOWN_COMMAND_REPLY,
    UNTIMED_GO_PREFIX,
    range_changed_reply,
)
from powerlog.ptd_rl import RL_HEADER, rl_line_to_spl
from powerlog.spl import PowerSample, parse_spl_text
from powerlog.tiers import MeasurementTier

__all__ = [
    "HELLO_REPLY",
    "PTD_DEFAULT_PORT",
    "RL_VARIANTS",
    "PtdMeter",
    "UncertaintySummary",
    "WattsSummary",
    "check_ptd_url",
    "format_range",
    "parse_identify",
    "parse_ranges",
    "parse_rl_header",
    "parse_uncertainty",
    "parse_watts",
]

RL_VARIANTS = ("RL", "RL,*,*", "DC-RL")
_WRONG_VARIANT_REPLIES = (BAD_PARAMS_REPLY, UNKNOWN_COMMAND_REPLY)
T = TypeVar("T")


@dataclass(frozen=True)
class WattsSummary:
    avg_w: float
    min_w: float
    max_w: float
    samples: int
    errors: int
    valid: int


@dataclass(frozen=True)
class UncertaintySummary:
    """Uncertainty of the samples so far, as fractions of the reading."""

    avg: float
    min: float
    max: float
    samples: int
    errors: int
    valid: int
    unknown: int


def _fields(reply: str, head: str, count: int, what: str) -> list[str]:
    fields = reply.split(",")
    if fields[0] != head or len(fields) != count + 1:
        raise MeterProtocolError(f"expected '{head},' and {count} values for {what}, got {reply!r}", reply=reply)
    return fields[1:]


def _float(text: str, reply: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MeterProtocolError(f"{text!r} is not a number in {reply!r}", reply=reply) from None
    if math.isinf(value):
        raise MeterProtocolError(f"{text!r} is not a finite number in {reply!r}", reply=reply)
    return value


def _int(text: str, reply: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise MeterProtocolError(f"{text!r} is not an integer in {reply!r}", reply=reply) from None


def parse_identify(reply: str) -> MeterIdentity:
    """The meter identity from PTDaemon's Identify reply (see :mod:`powerlog.ptd_identity`)."""
    try:
        ptd = parse_identify_reply(reply)
    except IdentifyError as e:
        raise MeterProtocolError(str(e), reply=reply) from e
    return ptd


def parse_ranges(reply: str) -> Ranges:
    """``Ranges,<ampAuto>,<amps>,<voltAuto>,<volts>``: auto 1 on, 0 off, -1 unknown (unknown -> Auto)."""
    amp_auto, amps, volt_auto, volts = _fields(reply, "Ranges", 4, "RR")
    for flag in (amp_auto, volt_auto):
        if flag not in ("-1", "0", "1"):
            raise MeterProtocolError(f"auto flag {flag!r} is not -1, 0 or 1 in {reply!r}", reply=reply)
    amps_a, volts_v = _float(amps, reply), _float(volts, reply)
    return Ranges(
        volts_v=volts_v if volt_auto == "0" and volts_v > 0 else None,
        amps_a=amps_a if amp_auto == "0" and amps_a > 0 else None,
    )


def parse_watts(reply: str) -> WattsSummary:
    avg, low, high, samples, errors, valid = _fields(reply, "Watts", 6, "Watts")
    return WattsSummary(
        _float(avg, reply),
        _float(low, reply),
        _float(high, reply),
        _int(samples, reply),
        _int(errors, reply),
        _int(valid, reply),
    )


def parse_uncertainty(reply: str) -> UncertaintySummary:
    avg, low, high, samples, errors, valid, unknown = _fields(reply, "Uncertainty", 7, "Uncertainty")
    return UncertaintySummary(
        _float(avg, reply),
        _float(low, reply),
        _float(high, reply),
        _int(samples, reply),
        _int(errors, reply),
        _int(valid, reply),
        _int(unknown, reply),
    )


def parse_rl_header(reply: str) -> int:
    """The sample count of ``Last N samples``."""
    match = RL_HEADER.fullmatch(reply.strip())
    if match is None:
        raise MeterProtocolError(f"expected 'Last N samples', got {reply!r}", reply=reply)
    return int(match.group(1))


def format_range(value: float | None) -> str:
    return "Auto" if value is None else f"{value:.6f}"


PTD_DEFAULT_PORT = 8888


def check_ptd_url(url: MeterUrl) -> MeterUrl:
    """A ``ptd://`` URL names a host and nothing after it."""
    if not url.host:
        raise MeterConfigError(f"meter URL {url.text!r} has no host")
    if url.path not in ("", "/"):
        raise MeterConfigError(f"meter URL {url.text!r}: a ptd:// URL has no path")
    return url


class PtdMeter(MeterBase):
    """A wall meter behind SPEC PTDaemon. Implements the ``Meter`` protocol."""

    meter_model = MeterModel(
        name="SPEC PTDaemon (any analyzer it serves)",
        schemes=("ptd",),
        tier=MeasurementTier.PTDAEMON,
        open=lambda url: PtdMeter(TcpLineTransport(url.host, url.port, timeout_s=url_timeout_s(url, 10.0))),
        options={"ptd": frozenset({"timeout"})},
        check_url=check_ptd_url,
        default_port=PTD_DEFAULT_PORT,
        example="ptd://HOST:PORT",
    )

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.name = transport.name
        self.identity: MeterIdentity | None = None
        self.initial_ranges: Ranges | None = None
        self.rejected_lines: list[BadLine] = []
        self._rl_variant: str | None = None
        self._mark = ""  # of the measurement running: RL lines of PTDaemon 1.10+ do not carry it
        # whether the analyzer may be measuring for this driver: True from a Go (accepted, or its reply lost)
        # until a Stop is answered (a lost connection changes nothing: PTDaemon measures on); False after a Stop;
        # None when not known (a fresh driver, a refused Go)
        self.measuring: bool | None = None

    @property
    def exchanges(self) -> Sequence[Exchange]:
        return self.transport.exchanges

    def _cmd(self, command: str) -> str:
        reply, _ = self.transport.exchange(command)
        return reply

    def _query(self, command: str, parse: Callable[[str], T]) -> T:
        """Send a command and parse its reply; a parse failure names this meter and command."""
        reply = self._cmd(command)
        try:
            return parse(reply)
        except MeterProtocolError as e:
            raise MeterProtocolError(e.args[0], meter=self.name, command=command, reply=reply) from e

    def _expect(self, command: str, expected: str) -> None:
        reply = self._cmd(command)
        if reply != expected:
            raise MeterErrorReply(
                f"expected {expected!r}, got {reply!r}", meter=self.name, command=command, reply=reply
            )

    def open(self) -> None:
        """Connect and check the peer is PTDaemon (``Hello``)."""
        self.transport.open()
        reply = self._cmd("Hello")
        if reply != HELLO_REPLY:
            self.transport.close()
            raise NotPtdaemonError(
                f"the peer answered Hello with {reply!r}, not {HELLO_REPLY!r}: is this a PTDaemon port?",
                meter=self.name,
                command="Hello",
                reply=reply,
            )

    def close(self) -> None:
        self.transport.close()

    def identify(self) -> MeterIdentity:
        self.identity = self._query("Identify", parse_identify)
        return self.identity

    def read_ranges(self) -> Ranges:
        """The current ranges (RR); the first call also records them as the ones to restore."""
        ranges = self._query("RR", parse_ranges)
        if self.initial_ranges is None:
            self.initial_ranges = ranges
        return ranges

    def set_ranges(self, ranges: Ranges) -> None:
        """SR,V then SR,A (Auto where a range is None). A measurement this driver started and did not stop (the
        connection was lost meanwhile) is stopped first: PTDaemon refuses ranges while it measures. A range that
        is not finite and positive is refused before anything is sent."""
        try:
            check_ranges(ranges)
        except ValueError as e:
            raise MeterConfigError(f"ranges not sent: {e}", meter=self.name, command="SR") from None
        if self.measuring:
            self.stop()
        self._expect(f"SR,V,{format_range(ranges.volts_v)}", range_changed_reply("V"))
        self._expect(f"SR,A,{format_range(ranges.amps_a)}", range_changed_reply("A"))

    def restore_ranges(self) -> None:
        """Put back the initial ranges: SR,V, then SR,A twice.

        The official power checker finds the restore by position: the 3rd ``SR,V`` and the 3rd
        ``SR,A`` command (to v5.0), the 3rd or 4th ``SR,A``, of which a 4th must exist (from v5.1,
        where power-dev sends ``SR,A,Auto`` twice before ranging). After ``SR,V/SR,A,Auto`` for
        ranging and one pair for testing, a repeated ``SR,A`` restore is both the 3rd and the 4th:
        every round's checker finds it, and setting a range twice changes nothing."""
        if self.initial_ranges is None:
            raise MeterErrorReply("initial ranges were never read (call read_ranges() first)", meter=self.name)
        self.set_ranges(self.initial_ranges)
        self._expect(f"SR,A,{format_range(self.initial_ranges.amps_a)}", range_changed_reply("A"))

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        if not re.fullmatch(r"[\w.-]+", mark):
            raise ValueError(f"mark {mark!r} must be letters, digits, '_', '-' or '.'")
        command = f"Go,{interval_ms},0,{mark}"
        self.measuring = True  # until the reply says otherwise: a Go whose reply is lost may have started one
        reply = self._cmd(command)
        self._mark = mark
        self.measuring = reply.startswith(UNTIMED_GO_PREFIX) or None
        if not reply.startswith(UNTIMED_GO_PREFIX):
            raise MeterErrorReply(
                f"measurement did not start: {reply!r}", meter=self.name, command=command, reply=reply
            )

    def read_new(self) -> list[PowerSample]:
        """Samples logged since the previous call. Lines that do not parse go to ``rejected_lines``."""
        variants = (self._rl_variant,) if self._rl_variant else self._variant_order()
        for variant in variants:
            if variant is None:
                continue
            first, lines = self.transport.exchange(variant, extra_lines=_rl_line_count)
            if first in _WRONG_VARIANT_REPLIES:
                continue
            if not RL_HEADER.fullmatch(first.strip()):
                raise MeterErrorReply(f"unexpected reply {first!r}", meter=self.name, command=variant, reply=first)
            self._rl_variant = variant
            # PTDaemon 1.10/1.11 sends samples without Mark or channel labels: put them in as power-dev does
            spl = "\n".join(rl_line_to_spl(line, self._mark) for line in lines)
            log = parse_spl_text(spl, path=f"{self.name} {variant}")
            self.rejected_lines.extend(log.bad_lines)
            return list(log.samples())
        raise MeterErrorReply(
            f"the daemon accepts none of {', '.join(RL_VARIANTS)}", meter=self.name, command=variants[-1] or "RL"
        )

    def _variant_order(self) -> tuple[str, ...]:
        identity = self.identity
        if identity is not None and identity.dc:
            return ("DC-RL", "RL", "RL,*,*")
        if identity is not None and identity.channels > 1:
            return ("RL,*,*", "RL", "DC-RL")
        return ("RL", "RL,*,*", "DC-RL")

    def stop(self) -> bool:
        """Stop the measurement; False when none was running."""
        reply = self._cmd("Stop")
        if reply in (STOP_REPLY, NOTHING_TO_STOP_REPLY):
            self.measuring = False
            return reply == STOP_REPLY
        raise MeterErrorReply(f"unexpected reply {reply!r}", meter=self.name, command="Stop", reply=reply)

    def watts(self) -> WattsSummary:
        return self._query("Watts", parse_watts)

    def uncertainty(self) -> UncertaintySummary:
        return self._query("Uncertainty", parse_uncertainty)


def _rl_line_count(first: str) -> int:
    match = RL_HEADER.fullmatch(first.strip())
    return int(match.group(1)) if match else 0
