"""One measurement session: the state machine, the meter's phases, and the run folder.

States: open -> ranging -> ranged -> testing -> tested -> closed, or failed from any
of them. A call out of order raises :class:`SessionStateError` and changes nothing.
Meter commands block (sockets), so they run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import platform
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from director.errors import (
    DirectorError,
    MeterBusyError,
    MeterConnectionError,
    MeterError,
    MeterTransportError,
    SessionStateError,
    StorageError,
)
from director.live import LiveFeed
from director.meters.base import Meter, MeterIdentity
from director.meters.ranges import Ranges, derive_testing_ranges, range_table_for, round_up_to_range
from director.ptd_config import ptd_config_entries
from powerlog.cli_support import dump_json, package_version
from powerlog.clock_map import SutClockMap
from powerlog.errors import PowerlogError
from powerlog.layout import PHASE_DIRS
from powerlog.lines import BadLine
from powerlog.mllog import parse_detail_log
from powerlog.ptdlog import session_part
from powerlog.run_record import (
    ClockEntry,
    ExchangeRecord,
    MeterGap,
    MeterIdentityRecord,
    MeterRecord,
    PhaseRecord,
    RangesRecord,
    RejectedReply,
    SessionJson,
    SutLinkOutage,
    write_session_json,
)
from powerlog.spl import PowerSample, SplWriter, read_spl
from powerlog.sut_samples import SAMPLES_DIR, read_journal, write_parquet
from powerlog.uncertainty import UncertaintySummary
from powerlog.wire import AgentInfo, ClockReport, SampleBatch, SessionState, SessionStatus

__all__ = [
    "MeterBusyError",
    "PhaseTimes",
    "Session",
    "SessionConfig",
    "SessionStateError",
    "finish_sample_journals",
]

Clock = Callable[[], int]
READ_INTERVAL_S = 1.0
RECONNECT_FIRST_DELAY_S = 0.5
RECONNECT_MAX_DELAY_S = 10.0
PHASE_START_METER_WAIT_S = 20.0  # within the agent's patience for a phase start (its request timeout)
LIVE_POINTS_PER_BATCH = 10
LATE_BATCH_NS = 5 * 1_000_000_000  # a SUT batch arriving later than this after its first reading counts as late
NS = 1_000_000_000
MAX_REJECTED_KEPT = 100


@dataclass(frozen=True)
class SessionConfig:
    runs_dir: Path
    settle_s: float = 10.0
    current_factor: float = 1.1
    interval_ms: int = 1000
    ptd_log: Path | None = None  # PTDaemon's own log file, copied into power/ptd_logs.txt at close
    min_free_bytes: int = 100_000_000  # a phase does not start with less free space in the run folder


@dataclass
class PhaseTimes:
    """The four checkpoints of a phase, on both clocks (wall UTC ns) and the director's monotonic clock."""

    director_utc_ns: list[int] = field(default_factory=list)
    director_monotonic_s: list[float] = field(default_factory=list)
    agent_utc_ns: list[int] = field(default_factory=list)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


class Session:
    """A session holds the meter from open to close."""

    def __init__(
        self,
        meter: Meter,
        meter_url: str,
        config: SessionConfig,
        agent: AgentInfo,
        client_uuid: str,
        clock: Clock = time.time_ns,
        feed: LiveFeed | None = None,
    ) -> None:
        self.meter = meter
        self.feed = feed if feed is not None else LiveFeed()
        self.first_seq = self.feed.last_seq  # the live view of this session starts after it
        self.agent_uuid = client_uuid
        self.meter_url = meter_url
        self.config = config
        self.agent = agent
        self.clock = clock
        created = time.gmtime(clock() / NS)
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", created)
        self.session_name = f"{stamp}_{agent.label}" if agent.label else stamp
        self.session_id = f"{self.session_name}_{uuid.uuid4().hex[:6]}"
        self.server_uuid = str(uuid.uuid4())
        self.state = SessionState.OPEN
        self.error: str | None = None
        self.folder = config.runs_dir / self.session_id
        self.identity: MeterIdentity | None = None
        self.phase_times: dict[str, PhaseTimes] = {p: PhaseTimes() for p in PHASE_DIRS}
        self.ranges: dict[str, Ranges] = {}
        self.samples: dict[str, int] = dict.fromkeys(PHASE_DIRS, 0)
        self._ptd_log_offset = 0  # bytes of PTDaemon's log written before this session
        self.uncertainty: dict[str, UncertaintySummary] = {}  # per phase, from the driver
        self.clock_reports: list[ClockEntry] = []
        self.messages: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self._batches: set[tuple[str, int]] = set()
        self.duplicate_batches = 0
        self.late_batches = 0
        self.sut_link_outages: list[dict[str, int]] = []
        self.meter_gaps: list[dict[str, Any]] = []  # the meter lost mid-phase: from the last sample to reconnection
        self._meter_lost = False
        self.latest_sut_w: dict[str, float] = {}
        self.meter_errors = 0
        self.last_sample: PowerSample | None = None
        self.energy_j: dict[str, float] = dict.fromkeys(PHASE_DIRS, 0.0)
        self.sample_rows: dict[str, int] = {}
        self.simulated_samples = False
        self._writer: SplWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._meter_lock = asyncio.Lock()
        self._phase: str | None = None
        self.log = logging.getLogger(f"mlpower.director.session.{self.session_id}")
        self._log_handler: logging.Handler | None = None

    # helpers ------------------------------------------------------------------------------
    async def _meter(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._meter_lock:
            return await asyncio.to_thread(fn, *args)

    def _expect(self, allowed: tuple[SessionState, ...], action: str) -> None:
        if self.state not in allowed:
            why = f": {self.error}" if self.state is SessionState.FAILED and self.error else ""
            raise SessionStateError(f"cannot {action} now{why}", self.state)

    def _check_storage(self, phase: str) -> None:
        """Before a phase: the run folder takes a write and has room for it, or a clear error now."""
        folder = self.folder / PHASE_DIRS[phase]
        try:
            free_bytes = shutil.disk_usage(folder).free
            probe = folder / ".mlpower-write-probe"
            probe.write_bytes(b"x" * 4096)
            probe.unlink()
        except OSError as e:
            raise StorageError(f"cannot write in {folder}: {e.strerror or e}; free space or fix permissions") from e
        if free_bytes < self.config.min_free_bytes:
            raise StorageError(
                f"only {free_bytes / 1e6:.1f} MB free in {folder} (at least {self.config.min_free_bytes / 1e6:.0f} MB "
                "are needed for a phase): free some space and start again"
            )

    def record_message(self, cmd: str, reply: str, cmd_utc_ns: int) -> None:
        self.messages.append({"cmd": cmd, "cmd_time": cmd_utc_ns / NS, "reply": reply, "reply_time": self.clock() / NS})

    def _fail(self, error: Exception) -> None:
        self.meter_errors += isinstance(error, MeterError)
        self.error = str(error)
        self._set_state(SessionState.FAILED)
        self.log.error("session failed: %s", error)

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self._write_progress()
        self.feed.publish(
            "state", session_id=self.session_id, state=state.value, error=self.error, simulated=self.simulated
        )

    def _marker(self, phase: str, what: str, t_utc_ns: int) -> None:
        self.feed.publish("marker", session_id=self.session_id, phase=phase, what=what, t_utc_ns=t_utc_ns)

    def status(self) -> SessionStatus:
        return SessionStatus(
            session_id=self.session_id,
            session_name=self.session_name,
            state=self.state,
            simulated=self.simulated,
            samples=self.samples,
            run_folder=str(self.folder),
            error=self.error,
            last_power_w=self.last_sample.power_w if self.last_sample is not None else None,
            energy_j=self.energy_j,
        )

    @property
    def simulated(self) -> bool:
        return bool(self.identity and self.identity.simulated) or self.agent.simulated_gpus or self.simulated_samples

    # lifecycle ----------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the run folder, connect to the meter, identify it and read its ranges."""
        for sub in ("power", *PHASE_DIRS.values()):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.folder / "power" / "server.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("director %(asctime)s [%(levelname)s] %(message)s"))
        self.log.addHandler(handler)
        self.log.setLevel(logging.INFO)
        self._log_handler = handler
        self.log.info("session %s opened for agent %r on %s", self.session_id, self.agent.label, self.agent.host)
        ptd_log = self.config.ptd_log
        # where this session's part of PTDaemon's log starts (it runs on; earlier sessions and probes are not ours)
        self._ptd_log_offset = ptd_log.stat().st_size if ptd_log is not None and ptd_log.is_file() else 0
        try:
            await self._meter(self.meter.open)
            self.identity = await self._meter(self.meter.identify)
            initial = await self._meter(self.meter.read_ranges)
        except MeterError as e:
            self._fail(e)
            raise
        self.log.info("meter %s: %s (initial ranges %s)", self.meter_url, self.identity.raw, initial)
        self._set_state(SessionState.OPEN)

    async def start_phase(self, phase: str, agent_utc_ns: int) -> Ranges:
        received_ns, received_mono = self.clock(), time.monotonic()
        if phase == "ranging":
            self._expect((SessionState.OPEN,), "start ranging")
            ranges = Ranges.automatic()
        else:
            self._expect((SessionState.RANGED,), "start testing")
            ranges = self._testing_ranges()
        self._check_storage(phase)
        times = self.phase_times[phase]
        times.director_utc_ns, times.director_monotonic_s = [received_ns], [received_mono]
        times.agent_utc_ns = [agent_utc_ns]
        self._set_state(SessionState.RANGING if phase == "ranging" else SessionState.TESTING)
        mark = f"{self.session_name}_{phase}"
        try:
            await self._meter_ready(phase, ranges)
            self.log.info("%s: ranges %s, settling %.1f s", phase, ranges, self.config.settle_s)
            await asyncio.sleep(self.config.settle_s)
            self._writer = SplWriter(self.folder / PHASE_DIRS[phase] / "spl.txt").open()
            await self._meter(self.meter.start, mark, self.config.interval_ms)
        except MeterError as e:
            self._fail(e)
            raise
        self.ranges[phase] = ranges
        self._phase = phase
        self._reader = asyncio.create_task(self._read_loop(phase))
        times.director_utc_ns.append(self.clock())
        times.director_monotonic_s.append(time.monotonic())
        self._marker(phase, "start", times.director_utc_ns[-1])
        self.log.info("%s: Go with mark %s", phase, mark)
        return ranges

    async def _meter_ready(self, phase: str, ranges: Ranges) -> None:
        """Set the phase's ranges; a meter that does not answer (lost at the previous phase's end, or since) is
        reconnected with backoff for up to :data:`PHASE_START_METER_WAIT_S` before the phase fails."""
        deadline_s = time.monotonic() + PHASE_START_METER_WAIT_S
        delay_s, attempts = RECONNECT_FIRST_DELAY_S, 0
        while True:
            try:
                if self._meter_lost:  # connect afresh
                    await self._reopen_meter()
                    self._meter_lost = False
                await self._meter(self.meter.set_ranges, ranges)
                if attempts:
                    self.log.warning("%s: meter back after %d reconnect attempt(s)", phase, attempts)
                return
            except MeterTransportError as e:
                self._meter_lost = True
                attempts += 1
                if time.monotonic() + delay_s > deadline_s:
                    raise MeterConnectionError(
                        f"the meter did not answer at the {phase} start: {attempts} attempt(s) over "
                        f"{PHASE_START_METER_WAIT_S:g} s, the last: {e}. Check that PTDaemon (or the analyzer's cable) "
                        "is up, then run the session again",
                        meter=self.meter.name,
                    ) from e
                self.log.warning("%s: meter not answering at the phase start (%s); retrying in %.1f s", phase, e,
                                 delay_s)  # fmt: skip
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RECONNECT_MAX_DELAY_S)

    def _testing_ranges(self) -> Ranges:
        ranging = read_spl(self.folder / "ranging" / "spl.txt")
        table = range_table_for(self.identity.model) if self.identity else None
        try:
            ranges = derive_testing_ranges(ranging, self.config.current_factor)
        except ValueError as e:
            raise SessionStateError(f"cannot derive testing ranges: {e}", self.state) from e
        self.log.info("testing ranges %s (analyzer will use %s)", ranges, _rounded(ranges, table))
        return ranges

    async def _read_loop(self, phase: str) -> None:
        # at the meter's own rate (at most once a second), so the live view moves as the meter does
        interval_s = min(READ_INTERVAL_S, self.config.interval_ms / 1000)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._drain(phase)
            except MeterError as e:
                await self._reconnect(phase, e)
            except StorageError as e:
                await self._storage_failed(phase, e)
                return

    async def _storage_failed(self, phase: str, error: StorageError) -> None:
        """The disk filled up (or went read-only) mid-phase: stop cleanly, keep what was written."""
        self._reader = None  # this task is ending: abort must not cancel it
        await self.abort(f"{error}; the {phase} phase was stopped, the {self.samples[phase]} samples written are kept")

    async def _reconnect(self, phase: str, error: MeterError) -> None:
        """The meter went away mid-phase: reconnect with backoff and record the gap; the phase goes on.

        The gap is recorded from the last sample stored to the first one after, with the error, so
        the analyzer can say where samples are missing: it is never bridged silently.
        """
        gap = self._new_gap(phase, error)
        last_ns = gap["last_sample_utc_ns"]
        self.log.warning("%s: meter lost (%s); reconnecting", phase, error)
        self._marker(phase, "meter_lost", last_ns)
        self._write_progress()
        delay_s = RECONNECT_FIRST_DELAY_S
        while True:
            gap["attempts"] += 1
            try:
                await self._reopen_meter()
                await self._meter(self.meter.set_ranges, self.ranges[phase])
                await self._meter(self.meter.start, f"{self.session_name}_{phase}", self.config.interval_ms)
                break
            except MeterError as e:
                gap["error"] = f"{error}; last attempt: {e}"
                self.log.info("%s: meter still unreachable after %d attempt(s): %s", phase, gap["attempts"], e)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RECONNECT_MAX_DELAY_S)
        gap["restored_utc_ns"] = self.clock()
        self.log.warning(
            "%s: meter back after %.1f s (%d attempt(s)); the gap is recorded in session.json",
            phase,
            (gap["restored_utc_ns"] - last_ns) / NS,
            gap["attempts"],
        )
        self._marker(phase, "meter_back", gap["restored_utc_ns"])
        self._write_progress()

    async def _drain(self, phase: str) -> None:
        measured = await self._meter(self.meter.read_new_with_uncertainty)
        samples = [sample for sample, _ in measured]
        tally = self.uncertainty.setdefault(phase, UncertaintySummary())
        for sample, uncertainty in measured:
            tally.add(sample.t_utc_ns, uncertainty)
        for sample in samples:
            if self.last_sample is not None and sample.power_w > 0 and self.last_sample.power_w > 0:
                dt_s = (sample.t_utc_ns - self.last_sample.t_utc_ns) / NS
                if 0 < dt_s < 10:  # a running total for the live view; the result integrates the file
                    self.energy_j[phase] += (sample.power_w + self.last_sample.power_w) / 2 * dt_s
            self.last_sample = sample
        if samples and self._writer is not None:
            try:
                written = self._writer.write(samples)
                self._writer.flush()  # a crash loses at most the last read interval
            except OSError as e:
                raise StorageError(f"cannot write {PHASE_DIRS[phase]}/spl.txt: {e.strerror or e}") from e
            self.samples[phase] += written
        if samples:
            self.feed.publish(
                "power",
                session_id=self.session_id,
                phase=phase,
                t_utc_ns=[s.t_utc_ns for s in samples],
                power_w=[s.power_w for s in samples],
                channels_w=[[c.power_w for c in s.channels] for s in samples] if samples[0].channels else None,
                samples=self.samples[phase],
                energy_j=self.energy_j[phase],
            )

    async def stop_phase(self, phase: str, agent_utc_ns: int) -> int:
        received_ns, received_mono = self.clock(), time.monotonic()
        running = SessionState.RANGING if phase == "ranging" else SessionState.TESTING
        self._expect((running,), f"stop {phase}")
        times = self.phase_times[phase]
        times.director_utc_ns.append(received_ns)
        times.director_monotonic_s.append(received_mono)
        times.agent_utc_ns.append(agent_utc_ns)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        open_gap = self._open_gap(phase)
        try:
            if open_gap is None:
                await self._meter(self.meter.stop)
                await self._drain(phase)
        except MeterError as e:
            # the meter went at the very end: what was stored is kept and the gap says what is missing
            open_gap = self._new_gap(phase, e)
            self.log.warning("%s: meter lost while stopping: %s", phase, e)
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if open_gap is not None:
            open_gap["unresolved_at_stop_utc_ns"] = received_ns
            self._meter_lost = True
            self.log.warning("%s stopped while the meter was unreachable: samples end at the gap", phase)
        times.director_utc_ns.append(self.clock())
        times.director_monotonic_s.append(time.monotonic())
        self._marker(phase, "stop", received_ns)
        self._set_state(SessionState.RANGED if phase == "ranging" else SessionState.TESTED)
        self.log.info("%s stopped: %d samples", phase, self.samples[phase])
        return self.samples[phase]

    def _open_gap(self, phase: str) -> dict[str, Any] | None:
        gap = self.meter_gaps[-1] if self.meter_gaps else None
        return gap if gap is not None and gap["phase"] == phase and gap["restored_utc_ns"] is None else None

    def _new_gap(self, phase: str, error: MeterError) -> dict[str, Any]:
        """Record that the meter was lost: from the last sample stored until it is back (``restored_utc_ns``)."""
        now_ns = self.clock()
        gap = {
            "phase": phase,
            "last_sample_utc_ns": self.last_sample.t_utc_ns if self.last_sample is not None else now_ns,
            "detected_utc_ns": now_ns,
            "restored_utc_ns": None,
            "error": str(error),
            "attempts": 0,
        }
        self.meter_gaps.append(gap)
        return gap

    async def _reopen_meter(self) -> None:
        with contextlib.suppress(MeterError):
            await self._meter(self.meter.close)
        await self._meter(self.meter.open)
        await self._meter(self.meter.identify)

    def add_agent_checkpoint(self, phase: str, agent_utc_ns: int) -> None:
        """The agent's own time for the 2nd (start replied) or 4th (stop replied) checkpoint."""
        self.phase_times[phase].agent_utc_ns.append(agent_utc_ns)

    def add_samples(self, batch: SampleBatch) -> bool:
        """Append a batch to ``samples/<source>.jsonl``; False when this (source, seq) was stored before."""
        key = (batch.source, batch.seq)
        if key in self._batches:
            self.duplicate_batches += 1
            return False
        folder = self.folder / SAMPLES_DIR
        folder.mkdir(exist_ok=True)
        with (folder / f"{batch.source}.jsonl").open("a", encoding="utf-8") as f:
            f.write(batch.model_dump_json() + "\n")
            f.flush()
        self._batches.add(key)
        self.sample_rows[batch.source] = self.sample_rows.get(batch.source, 0) + len(batch.columns["t_utc_ns"])
        self.simulated_samples = self.simulated_samples or batch.simulated
        clock_map = self.clock_map()  # the SUT's clock onto the director's
        times = batch.columns["t_utc_ns"]
        arrived_ns = self.clock()
        if times and arrived_ns - clock_map.to_director_ns(int(times[0])) > LATE_BATCH_NS:
            self._note_late(clock_map.to_director_ns(int(times[0])), arrived_ns)
        if batch.columns.get("power_w"):
            self.latest_sut_w[batch.source] = float(batch.columns["power_w"][-1])
            step = max(1, len(times) // LIVE_POINTS_PER_BATCH)  # the live plot needs no 100 Hz: keeps the feed small
            self.feed.publish(
                "gpu",
                session_id=self.session_id,
                source=batch.source,
                simulated=batch.simulated,
                t_utc_ns=[clock_map.to_director_ns(int(t)) for t in times[::step]],
                power_w=batch.columns["power_w"][::step],
            )
        return True

    def _note_late(self, read_ns: int, arrived_ns: int) -> None:
        """A batch that arrived long after its readings: the agent's link was down; merge into one outage."""
        self.late_batches += 1
        last = self.sut_link_outages[-1] if self.sut_link_outages else None
        if last is not None and read_ns <= last["until_utc_ns"] + LATE_BATCH_NS:
            last["until_utc_ns"] = max(last["until_utc_ns"], arrived_ns)
            last["batches"] += 1
            return
        self.sut_link_outages.append({"from_utc_ns": read_ns, "until_utc_ns": arrived_ns, "batches": 1})
        self.log.warning("SUT batches arriving late: readings from %.1f s ago", (arrived_ns - read_ns) / NS)

    def sut_batches(self) -> dict[str, dict[str, Any]]:
        """Per source: batches received and any sequence number never received (a batch lost on the way)."""
        seqs: dict[str, set[int]] = {}
        for source, seq in self._batches:
            seqs.setdefault(source, set()).add(seq)
        return {
            source: {"received": len(got), "missing_seqs": sorted(set(range(max(got) + 1)) - got)}
            for source, got in sorted(seqs.items())
        }

    def loadgen_window(self, folder: str, detail_log: bytes) -> None:
        """Announce the LoadGen window of an uploaded detail log (SUT clock moved onto the director's)."""
        phase = next((p for p, d in PHASE_DIRS.items() if d == folder), None)
        if phase is None:
            return
        log = parse_detail_log(detail_log, f"{folder}/mlperf_log_detail.txt")
        try:
            begin_ns, end_ns = log.timestamp_ns("power_begin"), log.timestamp_ns("power_end")
        except PowerlogError as e:
            self.log.warning("no LoadGen window in %s/mlperf_log_detail.txt: %s", folder, e)
            return
        clock_map = self.clock_map()
        self._marker(phase, "loadgen_begin", clock_map.to_director_ns(begin_ns))
        self._marker(phase, "loadgen_end", clock_map.to_director_ns(end_ns))

    def add_clock_report(self, report: ClockReport) -> None:
        self.clock_reports.append(ClockEntry(phase=report.phase, when=report.when, **report.clock.model_dump()))

    async def close(self, analyze: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        self._expect((SessionState.TESTED,), "close")
        try:
            await self._meter(self.meter.stop)  # as the reference workflow: nothing runs, so an error reply
            await self._meter(self.meter.restore_ranges)
        except MeterError as e:
            self.log.warning("restoring the analyzer's ranges failed: %s", e)
        finally:
            await self._meter(self.meter.close)
        self.state = SessionState.CLOSED  # announced once the result is there
        await asyncio.to_thread(self._write_records)  # Parquet of a long run takes seconds: off the event loop
        self.result = await asyncio.to_thread(analyze, self.folder)
        (self.folder / "result.json").write_text(_json(self.result))
        self._set_state(SessionState.CLOSED)
        return self.result

    async def abort(self, reason: str) -> None:
        """Stop whatever runs and keep what was written; the session ends failed."""
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(MeterError, StorageError):
            if self._phase is not None and self.state in (SessionState.RANGING, SessionState.TESTING):
                await self._meter(self.meter.stop)
                await self._drain(self._phase)
        if self._writer is not None:
            with contextlib.suppress(OSError):  # what the disk took is kept; the rest cannot be written
                self._writer.close()
            self._writer = None
        with contextlib.suppress(MeterError):
            await self._meter(self.meter.close)
        self._fail(DirectorError(reason))
        try:
            await asyncio.to_thread(self._write_records)
        except OSError as e:
            self.log.error("cannot write the session records: %s", e.strerror or e)

    # records ------------------------------------------------------------------------------
    def _write_records(self) -> None:
        power = self.folder / "power"
        if self.config.ptd_log is not None and self.config.ptd_log.is_file():
            whole = self.config.ptd_log.read_bytes()
            (power / "ptd_logs.txt").write_bytes(session_part(whole, self._ptd_log_offset))
        self.log.info("session %s: %s", self.session_id, self.state.value)
        if self._log_handler is not None:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        self._finish_samples()
        results = {
            rel: _sha1(self.folder / rel)
            for rel in ("power/ptd_logs.txt", "power/server.log", "ranging/spl.txt", "run_1/spl.txt")
            if (self.folder / rel).is_file()
        }
        server = {
            "version": "mlpower-1",
            "timezone": 0,
            "modules": {},
            "sources": {},
            "messages": self.messages,
            "uuid": {"client": self.agent_uuid, "server": self.server_uuid},
            "session_name": self.session_name,
            "results": results,
            "phases": {
                phase: [[ns / NS, mono] for ns, mono in zip(t.director_utc_ns, t.director_monotonic_s, strict=False)]
                for phase, t in self.phase_times.items()
            },
            "ptd_messages": [{"cmd": e.cmd, "reply": e.reply} for e in self.meter.exchanges if _is_control(e.cmd)],
            "ptd_config": ptd_config_entries(
                self.meter_url, getattr(self.meter, "identities", None) or ([self.identity] if self.identity else [])
            ),
        }
        (power / "server.json").write_text(_json(server))
        write_session_json(self.folder / "session.json", self.record())

    def _write_progress(self) -> None:
        """session.json as it stands, replaced atomically at every state change: after a crash, the
        restarted director finds what the session was doing (see :func:`recover_interrupted`)."""
        if not self.folder.is_dir():
            return
        target = self.folder / "session.json"
        try:
            write_session_json(target, self.record())
        except OSError as e:  # a full disk must not stop the measurement; the samples matter more
            self.log.error("cannot write %s: %s", target, e.strerror or e)

    def clock_map(self) -> SutClockMap:
        """The SUT-to-director mapping from the clock reports so far (the analyzer builds the same one from
        session.json)."""
        return SutClockMap.from_entries(self.clock_reports)

    def _finish_samples(self) -> None:
        for line in finish_sample_journals(self.folder):
            self.log.warning("samples: %s", line)

    def record(self) -> SessionJson:
        """session.json: mlpower's own record of the session."""
        identity = self.identity
        return SessionJson(
            mlpower_version=package_version(),
            session_id=self.session_id,
            session_name=self.session_name,
            state=self.state.value,
            error=self.error,
            simulated=self.simulated,
            simulated_sources=[
                source
                for source, simulated in (
                    ("meter", bool(identity and identity.simulated)),
                    ("sut_samples", self.simulated_samples or self.agent.simulated_gpus),
                )
                if simulated
            ],
            sut_samples=self.sample_rows,
            agent=self.agent,
            meter=MeterRecord(
                url=self.meter_url,
                identity=None if identity is None else MeterIdentityRecord(**identity.__dict__),
                exchanges=[ExchangeRecord(**e.__dict__) for e in self.meter.exchanges],
            ),
            phases={
                phase: PhaseRecord(
                    mark=f"{self.session_name}_{phase}",
                    ranges=None
                    if phase not in self.ranges
                    else RangesRecord(volts_v=self.ranges[phase].volts_v, amps_a=self.ranges[phase].amps_a),
                    samples=self.samples[phase],
                    # the driver's per-sample uncertainty (a directly read analyzer; PTDaemon logs its own)
                    uncertainty=self.uncertainty[phase].to_record() if phase in self.uncertainty else None,
                    director_utc_ns=t.director_utc_ns,
                    agent_utc_ns=t.agent_utc_ns,
                )
                for phase, t in self.phase_times.items()
            },
            clock=self.clock_reports,
            meter_gaps=[MeterGap(**g) for g in self.meter_gaps],
            meter_samples_skipped=self.meter.skipped_stale,
            # meter replies left out as unusable (never averaged in): how many, and the first ones as they came
            meter_rejected_count=len(self.meter.rejected_lines),
            meter_rejected=[
                RejectedReply(reason=bad.reason, text=bad.text) for bad in self.meter.rejected_lines[:MAX_REJECTED_KEPT]
            ],
            sut_batches=self.sut_batches(),
            sut_link_outages=[SutLinkOutage(**o) for o in self.sut_link_outages],
            director_software={"mlpower": package_version(), "python": platform.python_version()},
            settle_s=self.config.settle_s,
            interval_ms=self.config.interval_ms,
        )


def finish_sample_journals(folder: Path) -> list[BadLine]:
    """Turn each SUT sample journal into Parquet, its times as the SUT wrote them (the analyzer places them with
    the session's clock map); the unusable lines."""
    bad_lines: list[BadLine] = []
    for journal in sorted((folder / SAMPLES_DIR).glob("*.jsonl")):
        columns, bad = read_journal(journal)
        bad_lines += bad
        write_parquet(journal.with_suffix(".parquet"), columns)
    return bad_lines


def _is_control(cmd: str) -> bool:
    # the sample reads (RL) are many and carry data, not control: server.json keeps the control commands
    return not cmd.startswith(("RL", "DC-RL"))


def _rounded(ranges: Ranges, table: Any) -> Ranges:
    if table is None or ranges.volts_v is None or ranges.amps_a is None:
        return ranges
    return Ranges(round_up_to_range(ranges.volts_v, table.volts_v), round_up_to_range(ranges.amps_a, table.amps_a))


def _json(obj: Any) -> str:
    return dump_json(obj) + "\n"
