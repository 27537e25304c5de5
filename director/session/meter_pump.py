"""The meter during a session: one command at a time, the read loop, reconnects, gaps and diagnostics.

Meter commands block (sockets, serial), so each runs in a worker thread, one at a time under a lock;
what they return is handled on the event loop. A meter lost mid-phase is reconnected with backoff and
the gap recorded from the last sample stored to the first one after: never bridged silently. The analyzer is
never left measuring: a phase resumed after a reconnect stops the measurement that went on meanwhile before
its ranges are set again, a measurement someone left running is stopped before a phase sets ranges, and a
phase stop, an abort or a failed start stops the meter (reconnecting once when it was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from director.errors import (
    MeterConnectionError,
    MeterError,
    MeterErrorReply,
    MeterTransportError,
    SessionStateError,
    StorageError,
)
from director.meters.base import Meter, MeterIdentity
from director.meters.ranges import Ranges, RangeTable, derive_testing_ranges, range_table_for, round_up_to_range
from director.session.config import Clock, SessionConfig
from director.session.feed import SessionFeed
from director.session.run_writer import SplFiles
from powerlog.layout import PHASE_DIRS
from powerlog.run_record import MeterGap
from powerlog.spl import PowerSample, read_spl
from powerlog.uncertainty import UncertaintySummary
from powerlog.wire import SessionState

__all__ = ["MeterPump", "OpenGap", "backoff_delays", "live_energy_step_j", "testing_ranges"]

T = TypeVar("T")
NS = 1_000_000_000
READ_INTERVAL_S = 1.0
LIVE_ENERGY_MAX_STEP_S = 10.0  # the live energy total does not bridge a longer hole (the result integrates the file)


def live_energy_step_j(last: PowerSample | None, sample: PowerSample) -> float:
    """The trapezoid from the previous sample to this one, for a live energy total: nothing across a hole
    longer than ``LIVE_ENERGY_MAX_STEP_S`` or next to a sample with no power (the result integrates the file)."""
    if last is None or sample.power_w <= 0 or last.power_w <= 0:
        return 0.0
    dt_s = (sample.t_utc_ns - last.t_utc_ns) / NS
    return (sample.power_w + last.power_w) / 2 * dt_s if 0 < dt_s < LIVE_ENERGY_MAX_STEP_S else 0.0


def backoff_delays(first_s: float, max_s: float) -> Iterator[float]:
    """first_s, 2 first_s, 4 first_s, ... up to max_s, for ever."""
    delay_s = first_s
    while True:
        yield delay_s
        delay_s = min(delay_s * 2, max_s)


@dataclass
class OpenGap:
    """The meter was lost in ``phase``: from the last sample stored until it is back (``restored_utc_ns``)."""

    phase: str
    last_sample_utc_ns: int
    detected_utc_ns: int
    error: str
    attempts: int = 0
    restored_utc_ns: int | None = None
    unresolved_at_stop_utc_ns: int | None = None

    def record(self) -> MeterGap:
        return MeterGap(**self.__dict__)


class MeterPump:
    """Drives one meter for one session; the samples go to the run writer and the live feed."""

    def __init__(
        self,
        meter: Meter,
        config: SessionConfig,
        writer: SplFiles,
        feed: SessionFeed,
        log: logging.Logger,
        clock: Clock,
        on_change: Callable[[], None],
        on_storage_failed: Callable[[str, StorageError], Awaitable[None]],
    ) -> None:
        self.meter = meter
        self._config = config
        self._writer = writer
        self._feed = feed
        self._log = log
        self._clock = clock
        self._on_change = on_change  # something the run record shows changed (a gap opened or closed)
        self._on_storage_failed = on_storage_failed
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._lost = False  # set until the meter answers again
        self.phase: str | None = None  # the phase measuring now
        self.identity: MeterIdentity | None = None
        self.samples: dict[str, int] = dict.fromkeys(PHASE_DIRS, 0)
        self.energy_j: dict[str, float] = dict.fromkeys(PHASE_DIRS, 0.0)  # a running total for the live view
        self.uncertainty: dict[str, UncertaintySummary] = {}  # per phase, from the driver
        self.last_sample: PowerSample | None = None
        self.gaps: list[OpenGap] = []

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # a thread cannot be cancelled: hold the lock until it ends, so that no other command shares the
                # meter's connection with it (a reconnect cancelled by a phase stop would race the stop's Stop)
                with contextlib.suppress(Exception):
                    await work
                raise

    async def _taking_over(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn`` (setting ranges, Go); refused by a meter that is measuring (left running by a session that
        could not stop it, or by another client), the measurement is stopped and ``fn`` tried once more."""
        try:
            return await self.call(fn, *args)
        except MeterErrorReply as refused:
            if not await self.call(self.meter.stop):
                raise
            self._log.warning("the meter was measuring (%s): stopped it", refused)
            return await self.call(fn, *args)

    async def _leave_stopped(self, when: str) -> None:
        """Best effort: the analyzer is not left measuring; a meter lost before is reconnected once for it."""
        try:
            if self._lost:
                await self._reopen()
                self._lost = False
            await self.call(self.meter.stop)
        except MeterError as e:
            self._lost = True
            self._log.warning(
                "%s: could not stop the meter (%s); it may still be measuring: the next session or the next start "
                "of serve stops it",
                when,
                e,
            )

    def _delays(self) -> Iterator[float]:
        return backoff_delays(self._config.reconnect_first_delay_s, self._config.reconnect_max_delay_s)

    async def connect(self) -> Ranges:
        """Open, identify; the ranges the analyzer is set to (put back at the end). A meter that does not answer
        (PTDaemon restarting, a cable replugged) is retried as at a phase start."""

        async def attempt() -> Ranges:
            if self._lost:
                with contextlib.suppress(MeterError):
                    await self.call(self.meter.close)
            self._lost = True  # until the whole exchange succeeds
            await self.call(self.meter.open)
            self.identity = await self.call(self.meter.identify)
            ranges: Ranges = await self.call(self.meter.read_ranges)
            self._lost = False
            return ranges

        return await self._patiently("the session's open", attempt)

    async def _reopen(self) -> None:
        with contextlib.suppress(MeterError):
            await self.call(self.meter.close)
        await self.call(self.meter.open)
        await self.call(self.meter.identify)

    # a phase ------------------------------------------------------------------------------
    async def start(self, phase: str, ranges: Ranges, mark: str) -> None:
        """Ranges, settling, then Go; the read loop runs until :meth:`stop`."""
        self.samples.setdefault(phase, 0)  # the optional idle phase is counted once it starts
        self.energy_j.setdefault(phase, 0.0)
        await self._ready(phase, ranges)
        self._log.info("%s: ranges %s, settling %.1f s", phase, ranges, self._config.settle_s)
        await asyncio.sleep(self._config.settle_s)
        # off the event loop: a rack's 73 meters create their spl.txt at the same moment (see RunWriter.open_journals)
        await asyncio.to_thread(self._writer.open_samples, phase)

        async def go() -> None:  # lost during the settling: connect afresh, ranges again, then Go
            if self._lost:
                await self._reopen()
                self._lost = False
                await self._taking_over(self.meter.set_ranges, ranges)
            await self._taking_over(self.meter.start, mark, self._config.interval_ms)

        try:
            await self._patiently(f"the {phase} start", go)
        except MeterError:
            await self._leave_stopped(f"the {phase} start failed")  # a Go whose reply was lost may have started
            raise
        self.phase = phase
        self._reader = asyncio.create_task(self._read_loop(phase, ranges, mark))

    async def _ready(self, phase: str, ranges: Ranges) -> None:
        """Set the phase's ranges; a meter lost at the previous phase's end (or since) is reconnected first."""

        async def attempt() -> None:
            if self._lost:  # connect afresh
                await self._reopen()
                self._lost = False
            await self._taking_over(self.meter.set_ranges, ranges)

        await self._patiently(f"the {phase} start", attempt)

    async def _patiently(self, when: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt`` until the meter answers: a transport error is retried with backoff for up to
        ``phase_start_meter_wait_s`` (within the agent's patience for the request), then fails saying what to do."""
        wait_s = self._config.phase_start_meter_wait_s
        deadline_s = time.monotonic() + wait_s
        attempts = 0
        for delay_s in self._delays():
            try:
                result = await attempt()
            except MeterTransportError as e:
                self._lost = True
                attempts += 1
                if time.monotonic() + delay_s > deadline_s:
                    raise MeterConnectionError(
                        f"the meter did not answer at {when}: {attempts} attempt(s) over {wait_s:g} s, the last: "
                        f"{e}. Check that PTDaemon (or the analyzer's cable) is up, then run the session again",
                        meter=self.meter.name,
                    ) from e
                self._log.warning("meter not answering at %s (%s); retrying in %.1f s", when, e, delay_s)
                await asyncio.sleep(delay_s)
                continue
            if attempts:
                self._log.warning("meter back at %s after %d reconnect attempt(s)", when, attempts)
            return result
        raise AssertionError("unreachable: the delays never end")

    async def _read_loop(self, phase: str, ranges: Ranges, mark: str) -> None:
        # at the meter's own rate (at most once a second), so the live view moves as the meter does
        interval_s = min(READ_INTERVAL_S, self._config.interval_ms / 1000)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.drain(phase)
            except MeterError as e:
                await self._reconnect(phase, ranges, mark, e)
            except StorageError as e:
                self._reader = None  # this task is ending: an abort must not cancel it
                await self._on_storage_failed(phase, e)
                return

    async def _reconnect(self, phase: str, ranges: Ranges, mark: str, error: MeterError) -> None:
        """The meter went away mid-phase: reconnect with backoff and record the gap; the phase goes on. PTDaemon
        measured on meanwhile (a link cut, a pause): the driver stops that measurement before setting the ranges
        again, then Go with the phase's mark."""
        gap = self._new_gap(phase, error)
        self._log.warning("%s: meter lost (%s); reconnecting", phase, error)
        self._feed.marker(phase, "meter_lost", gap.last_sample_utc_ns)
        self._on_change()
        for delay_s in self._delays():
            gap.attempts += 1
            try:
                await self._reopen()
                await self._taking_over(self.meter.set_ranges, ranges)
                await self._taking_over(self.meter.start, mark, self._config.interval_ms)
                break
            except MeterError as e:
                gap.error = f"{error}; last attempt: {e}"
                self._log.info("%s: meter not back after %d attempt(s): %s", phase, gap.attempts, e)
                await asyncio.sleep(delay_s)
        gap.restored_utc_ns = self._clock()
        self._log.warning(
            "%s: meter back after %.1f s (%d attempt(s)); the gap is recorded in session.json",
            phase,
            (gap.restored_utc_ns - gap.last_sample_utc_ns) / NS,
            gap.attempts,
        )
        self._feed.marker(phase, "meter_back", gap.restored_utc_ns)
        self._on_change()

    async def drain(self, phase: str) -> None:
        """What the meter measured since the last read: into spl.txt, the tallies and the live feed."""
        measured = await self.call(self.meter.read_new_with_uncertainty)
        samples = [sample for sample, _ in measured]
        tally = self.uncertainty.setdefault(phase, UncertaintySummary())
        for sample, uncertainty in measured:
            tally.add(sample.t_utc_ns, uncertainty)
        for sample in samples:
            self.energy_j[phase] += live_energy_step_j(self.last_sample, sample)
            self.last_sample = sample
        try:
            self.samples[phase] += self._writer.write_samples(phase, samples)
        except StorageError as e:
            self.samples[phase] += e.samples_written
            raise
        if samples:
            self._feed.power(phase, samples, self.samples[phase], self.energy_j[phase])

    async def stop(self, phase: str, stop_utc_ns: int) -> None:
        """Stop the read loop and the meter, take the last samples; a meter lost now leaves its gap open."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        gap = self._open_gap(phase)
        try:
            if gap is None:
                await self.call(self.meter.stop)
                await self.drain(phase)
        except MeterError as e:
            # the meter went at the very end: what was stored is kept and the gap says what is missing
            gap = self._new_gap(phase, e)
            self._log.warning("%s: meter lost while stopping: %s", phase, e)
        finally:
            self._writer.close_samples()
            self.phase = None
        if gap is not None:
            gap.unresolved_at_stop_utc_ns = stop_utc_ns
            self._lost = True
            self._log.warning("%s stopped while the meter was unreachable: samples end at the gap", phase)
            await self._leave_stopped(f"the {phase} stop")

    def _open_gap(self, phase: str) -> OpenGap | None:
        gap = self.gaps[-1] if self.gaps else None
        return gap if gap is not None and gap.phase == phase and gap.restored_utc_ns is None else None

    def _new_gap(self, phase: str, error: MeterError) -> OpenGap:
        now_ns = self._clock()
        last_ns = self.last_sample.t_utc_ns if self.last_sample is not None else now_ns
        gap = OpenGap(phase=phase, last_sample_utc_ns=last_ns, detected_utc_ns=now_ns, error=str(error))
        self.gaps.append(gap)
        return gap

    # the end ------------------------------------------------------------------------------
    async def release(self) -> None:
        """After testing: stop (as the reference workflow does: nothing runs, so an error reply is fine), put
        the analyzer's ranges back, close."""
        try:
            if self._lost:  # lost at the testing stop: connect afresh to stop and put back
                await self._reopen()
                self._lost = False
            await self.call(self.meter.stop)
            await self.call(self.meter.restore_ranges)
        except MeterError as e:
            self._log.warning("restoring the analyzer's ranges failed: %s", e)
        finally:
            await self.call(self.meter.close)

    async def abort(self) -> None:
        """Stop whatever runs and keep what was read; errors now are of no use to anyone and are dropped, except
        that a meter which could not be stopped is logged."""
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self.phase is not None or self._lost:
            await self._leave_stopped("the abort")
        with contextlib.suppress(MeterError, StorageError):
            if self.phase is not None and not self._lost:
                await self.drain(self.phase)
        self._writer.close_samples()
        self.phase = None
        with contextlib.suppress(MeterError):
            await self.call(self.meter.close)


def testing_ranges(pump: MeterPump, ranging_spl: Path, current_factor: float, log: logging.Logger) -> Ranges:
    """The testing ranges from the ranging phase's samples; Auto for a meter with no ranges to set."""
    if not pump.meter.has_ranges:  # a BMC or PDU read through Redfish: nothing to set
        log.info("testing ranges Auto (the meter has no ranges to set)")
        return Ranges.automatic()
    ranging = read_spl(ranging_spl)
    try:
        ranges = derive_testing_ranges(ranging, current_factor)
    except ValueError as e:
        raise SessionStateError(f"cannot derive testing ranges: {e}", SessionState.RANGED) from e
    table = range_table_for(pump.identity.model) if pump.identity else None
    log.info("testing ranges %s (analyzer will use %s)", ranges, _rounded(ranges, table))
    return ranges


def _rounded(ranges: Ranges, table: RangeTable | None) -> Ranges:
    if table is None or ranges.volts_v is None or ranges.amps_a is None:
        return ranges
    return Ranges(round_up_to_range(ranges.volts_v, table.volts_v), round_up_to_range(ranges.amps_a, table.amps_a))
