"""The SUT's readings and clock as they arrive: batches stored once per (source, seq), late arrivals merged into
outages, the agent's clock reports and the SUT-to-director clock map they give."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from director.errors import BatchConflictError
from director.session.run_writer import RunWriter
from powerlog.clock_map import SutClockMap
from powerlog.run_record import ClockEntry, SutBatchesRecord, SutLinkOutage
from powerlog.wire import ClockReport, SampleBatch
from powerlog.wire_codec import journal_line

__all__ = ["LATE_BATCH_NS", "SutIngest", "SutOutage"]

NS = 1_000_000_000
LATE_BATCH_NS = 5 * NS  # a SUT batch arriving later than this after its first reading counts as late


@dataclass
class SutOutage:
    """The agent's link was down: readings from ``from_utc_ns`` arrived only at ``until_utc_ns``."""

    from_utc_ns: int
    until_utc_ns: int
    batches: int

    def record(self) -> SutLinkOutage:
        return SutLinkOutage(from_utc_ns=self.from_utc_ns, until_utc_ns=self.until_utc_ns, batches=self.batches)


class SutIngest:
    """Stores SUT sample batches in the run folder's journals and keeps the counts the records and metrics show.

    Runs on the event loop only (the director's one concurrency rule), one batch at a time: a re-send racing
    its original cannot be stored twice.
    """

    def __init__(self, writer: RunWriter, log: logging.Logger) -> None:
        self._writer = writer
        self._log = log
        self._seen: dict[tuple[str, int], bytes] = {}  # the digest of each stored batch's journal line
        self._seqs: dict[str, set[int]] = {}  # per source, the seqs stored (session.json asks at each state change)
        self._top_seq: dict[str, int] = {}
        self.rows: dict[str, int] = {}  # per source
        self.latest_power_w: dict[str, float] = {}
        self.duplicates = 0
        self.late = 0
        self.outages: list[SutOutage] = []
        self.simulated = False  # a simulated GPU batch arrived
        self.components_simulated = False  # a simulated component batch (a fake sysfs tree) arrived
        self.component_sources: set[str] = set()  # sources of kind component (RAPL, hwmon), never GPUs
        self.clock_reports: list[ClockEntry] = []
        self._clock_map: SutClockMap | None = None  # built from clock_reports when first asked for after a change

    async def open_journals(self, batches: Iterable[SampleBatch]) -> None:
        """The journals these batches need, opened off the event loop where new (see RunWriter.open_journals)."""
        await self._writer.open_journals({batch.source for batch in batches})

    def close(self) -> None:
        """The journals closed: everything stored is on disk (a later batch would open its journal again)."""
        self._writer.close_journals()

    def add_clock_report(self, report: ClockReport) -> None:
        self.clock_reports.append(ClockEntry(phase=report.phase, when=report.when, **report.clock.model_dump()))
        self._clock_map = None

    def clock_map(self) -> SutClockMap:
        """The SUT-to-director mapping from the clock reports so far (the analyzer builds the same one from
        session.json)."""
        # every SUT batch asks (a dozen a second with many GPUs); the reports change a few times a phase
        if self._clock_map is None:
            self._clock_map = SutClockMap.from_entries(self.clock_reports)
        return self._clock_map

    def add(self, batch: SampleBatch, arrived_utc_ns: int) -> bool:
        """Append a batch to ``samples/<source>.jsonl``; False when this (source, seq) was stored before with the
        same content (a re-send), :class:`BatchConflictError` when with other content."""
        key = (batch.source, batch.seq)
        line = journal_line(batch)
        digest = hashlib.blake2b(line, digest_size=16).digest()
        stored = self._seen.get(key)
        if stored is not None:
            if stored != digest:
                self._log.warning("SUT batch %d of %r re-sent with other readings: refused", batch.seq, batch.source)
                raise BatchConflictError(batch.source, batch.seq)
            self.duplicates += 1
            return False
        self._writer.append_journal(batch.source, line)
        self._seen[key] = digest
        self._seqs.setdefault(batch.source, set()).add(batch.seq)
        self._top_seq[batch.source] = max(batch.seq, self._top_seq.get(batch.source, batch.seq))
        times = batch.columns["t_utc_ns"]
        self.rows[batch.source] = self.rows.get(batch.source, 0) + len(times)
        if batch.kind == "component":
            self.component_sources.add(batch.source)
            self.components_simulated = self.components_simulated or batch.simulated
        else:
            self.simulated = self.simulated or batch.simulated
        if times:
            read_ns = self.clock_map().to_director_ns(int(times[0]))
            if arrived_utc_ns - read_ns > LATE_BATCH_NS:
                self._note_late(read_ns, arrived_utc_ns)
        if batch.columns.get("power_w"):
            self.latest_power_w[batch.source] = float(batch.columns["power_w"][-1])
        return True

    def _note_late(self, read_ns: int, arrived_ns: int) -> None:
        self.late += 1
        last = self.outages[-1] if self.outages else None
        if last is not None and read_ns <= last.until_utc_ns + LATE_BATCH_NS:
            last.until_utc_ns = max(last.until_utc_ns, arrived_ns)
            last.batches += 1
            return
        self.outages.append(SutOutage(read_ns, arrived_ns, 1))
        self._log.warning("SUT batches arriving late: readings from %.1f s ago", (arrived_ns - read_ns) / NS)

    def batches_record(self) -> dict[str, SutBatchesRecord]:
        """Per source: batches received and any sequence number never received (a batch lost on the way)."""
        return {source: self._batches_of(source) for source in sorted(self._seqs)}

    def _batches_of(self, source: str) -> SutBatchesRecord:
        got, top = self._seqs[source], self._top_seq[source]
        missing = [] if len(got) == top + 1 else sorted(set(range(top + 1)) - got)  # seqs start at 0
        return SutBatchesRecord(received=len(got), missing_seqs=missing)
