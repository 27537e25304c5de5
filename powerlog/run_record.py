"""``session.json``: mlpower's own record of a session, as typed, versioned models.

The director writes it (at every state change, atomically) with :func:`write_session_json`; the
analyzer, the director's recovery and the dashboard read it with :func:`read_session_json` or
:func:`parse_session_json`. Fields a reader does not know are ignored (a newer director's record
still reads); fields an older director did not write take their defaults. ``format`` names the
version: ``mlpower-session-1``. docs/file-formats.md lists the fields, and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from powerlog.cli_support import write_json_atomic
from powerlog.json_record import FrozenRecord, parse_record, read_json_file
from powerlog.ptd_identity import MeterIdentity
from powerlog.tiers import MeasurementTier
from powerlog.wire import AgentInfo, NodeSources

__all__ = [
    "SESSION_FORMAT",
    "ClockEntry",
    "ExchangeRecord",
    "Interruption",
    "MeterGap",
    "MeterIdentityRecord",
    "MeterRecord",
    "NodeGap",
    "NodeRecord",
    "PhaseRecord",
    "RangesRecord",
    "RejectedReply",
    "SessionJson",
    "SutBatchesRecord",
    "SutLinkOutage",
    "UncertaintyRecord",
    "WallMeterRecord",
    "parse_session_json",
    "read_session_json",
    "write_session_json",
]

SESSION_FORMAT = "mlpower-session-1"


MeterIdentityRecord = MeterIdentity  # the record of a meter's identity is the identity itself


@dataclass(frozen=True)
class ExchangeRecord:
    """One command to the meter and its reply, each with the director's UTC time: what a driver's transport
    keeps (``director.meters.transport.Exchange`` is this type) and ``session.json`` records."""

    cmd: str
    reply: str
    cmd_utc_ns: int
    reply_utc_ns: int
    extra_lines: int = 0


class MeterRecord(FrozenRecord):
    url: str = ""
    identity: MeterIdentity | None = None
    exchanges: list[ExchangeRecord] = Field(default_factory=list)


class RangesRecord(FrozenRecord):
    volts_v: float | None = None  # None: Auto
    amps_a: float | None = None


class UncertaintyRecord(FrozenRecord):
    """What the driver evaluated per sample (see :mod:`powerlog.uncertainty`)."""

    samples: int
    known: int
    max_fraction: float | None = None
    limit_fraction: float = 0.01
    above_limit_count: int = 0
    above_limit: list[tuple[int, float]] = Field(default_factory=list)  # (t_utc_ns, fraction)


class PhaseRecord(FrozenRecord):
    mark: str = ""
    ranges: RangesRecord | None = None
    samples: int = 0
    uncertainty: UncertaintyRecord | None = None
    director_utc_ns: list[int] = Field(default_factory=list)  # the four checkpoints on the director's clock
    agent_utc_ns: list[int] = Field(default_factory=list)  # and on the agent's


class ClockEntry(FrozenRecord):
    """One clock measurement the agent reported: ``offset_ns`` = director clock - SUT clock at SUT time
    ``agent_utc_ns``, within ``bound_ns``."""

    phase: str
    when: str
    offset_ns: int
    bound_ns: int
    delay_ns: int = 0
    rounds: int = 1
    kept: int = 1
    agent_utc_ns: int = 0


class MeterGap(FrozenRecord):
    """The meter lost mid-phase: no sample from ``last_sample_utc_ns`` until ``restored_utc_ns``."""

    phase: str
    last_sample_utc_ns: int
    detected_utc_ns: int
    restored_utc_ns: int | None = None
    error: str = ""
    attempts: int = 0
    unresolved_at_stop_utc_ns: int | None = None
    source: str = ""  # "": the session's meter; else the key of a wall meter beside it (its folder wall/<source>)


class SutLinkOutage(FrozenRecord):
    from_utc_ns: int
    until_utc_ns: int
    batches: int


class SutBatchesRecord(FrozenRecord):
    """One SUT source's batches: how many arrived, and the sequence numbers never received."""

    received: int = 0
    missing_seqs: list[int] = Field(default_factory=list)


class NodeGap(FrozenRecord):
    """A node agent the session went without (director clock): absent when a phase started (``missing``), or
    silent longer than its lease mid-session (``silent``), from ``from_utc_ns`` until it was heard again
    (``until_utc_ns``; None: not before the session ended)."""

    reason: str  # missing | silent
    phase: str = ""  # the phase it began in; "" between phases
    from_utc_ns: int
    detected_utc_ns: int
    until_utc_ns: int | None = None


class NodeRecord(FrozenRecord):
    """One node agent's part of a session: what it has, its own clock measurements (its readings are placed on
    the director's clock with these, never with the LoadGen node's), its gaps and the rows stored per source
    under ``nodes/<name>/samples/``."""

    name: str
    sources: NodeSources | None = None
    clock: list[ClockEntry] = Field(default_factory=list)
    gaps: list[NodeGap] = Field(default_factory=list)
    samples: dict[str, int] = Field(default_factory=dict)  # rows per source
    batches: dict[str, SutBatchesRecord] = Field(default_factory=dict)
    joined_utc_ns: int | None = None  # first heard in this session (None: never joined)
    last_heard_utc_ns: int | None = None


class WallMeterRecord(FrozenRecord):
    """A wall meter beside the session's own (another node's, or the interconnect's, in a multi-node system): its
    samples are ``wall/<key>/ranging/spl.txt`` and ``wall/<key>/run_1/spl.txt``; its gaps are in ``meter_gaps``
    with ``source`` set to its key."""

    key: str
    url: str
    nodes: list[str] = Field(default_factory=list)  # the nodes it measures (``interconnect`` for the switches')
    identity: MeterIdentity | None = None
    samples: dict[str, int] = Field(default_factory=dict)  # per phase
    ranges: dict[str, RangesRecord] = Field(default_factory=dict)  # per phase


class RejectedReply(FrozenRecord):
    reason: str
    text: str


class Interruption(FrozenRecord):
    """Written by a restarted director for a session a crash cut short."""

    state: str
    recovered_utc_ns: int
    sample_lines_unusable: int = 0


class SessionJson(FrozenRecord):
    format: str = SESSION_FORMAT
    mlpower_version: str = ""
    session_id: str = ""
    session_name: str = ""
    state: str = ""
    error: str | None = None
    simulated: bool = False
    simulated_sources: list[str] = Field(default_factory=list)
    tier: MeasurementTier | None = None  # what the wall power was measured with (powerlog.tiers), from the meter URL
    sut_samples: dict[str, int] = Field(default_factory=dict)  # rows per SUT source
    agent: AgentInfo | None = None
    meter: MeterRecord | None = None
    phases: dict[str, PhaseRecord] = Field(default_factory=dict)
    clock: list[ClockEntry] = Field(default_factory=list)
    meter_gaps: list[MeterGap] = Field(default_factory=list)
    meter_samples_skipped: int = 0  # a group of meters: samples with no fresh partner; Redfish: stale polls
    meter_rejected_count: int = 0
    meter_rejected: list[RejectedReply] = Field(default_factory=list)  # the first ones
    sut_batches: dict[str, SutBatchesRecord] = Field(default_factory=dict)
    sut_link_outages: list[SutLinkOutage] = Field(default_factory=list)
    director_software: dict[str, str] = Field(default_factory=dict)
    settle_s: float | None = None
    interval_ms: int = 1000
    interrupted: Interruption | None = None
    nodes: dict[str, NodeRecord] = Field(default_factory=dict)  # node agents beside the LoadGen node, by name
    wall_meters: list[WallMeterRecord] = Field(default_factory=list)  # a multi-node system's other wall meters

    def phase(self, name: str) -> PhaseRecord | None:
        return self.phases.get(name)


def parse_session_json(obj: Any, path: str = "session.json") -> SessionJson:
    """A session record from parsed JSON; :class:`FormatError` saying which field is wrong."""
    return parse_record(SessionJson, obj, path, "a session record")


def read_session_json(path: Path) -> SessionJson:
    return parse_session_json(read_json_file(path), str(path))


def write_session_json(path: Path, record: SessionJson) -> None:
    """Atomically: a reader (or a crash) never sees half a record."""
    write_json_atomic(path, record.model_dump(mode="json"))
