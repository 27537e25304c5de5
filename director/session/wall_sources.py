"""The wall meters beside the session's own, in a multi-node system (``serve --system``): every other node's wall
sources and a measured interconnect.

The session's own meter is the LoadGen node's (its samples are the run folder's official ``ranging/spl.txt`` and
``run_1/spl.txt``). Each other meter is driven by a :class:`MeterPump` of its own, exactly as the session's meter
is: its own connection, ranges (Auto for ranging, then derived from its own ranging samples), settling, read loop,
reconnects and gaps. Its samples go to its own folder, ``wall/<key>/ranging/spl.txt`` and
``wall/<key>/run_1/spl.txt`` on the director's clock, each at the instants that meter gave them: they are joined
with the others by time in the analyzer, never line by line. A meter lost mid-phase leaves a gap recorded with its
key in session.json; the session goes on. The phase starts and stops run every meter at once (each settles
``settle_s``), so N meters cost one settling, not N.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from director.errors import MeterError, StorageError
from director.meters.base import Meter
from director.meters.ranges import Ranges
from director.session.config import Clock, SessionConfig
from director.session.feed import SessionFeed
from director.session.meter_pump import MeterPump, testing_ranges
from director.session.run_writer import SplFiles
from powerlog.layout import PHASE_DIRS, WALL_DIR
from powerlog.run_record import MeterGap, RangesRecord, WallMeterRecord
from powerlog.spl import PowerSample

__all__ = ["SourceFeed", "WallMeterPlan", "WallSources"]


@dataclass(frozen=True)
class WallMeterPlan:
    """One wall meter beside the session's own: its key (its folder under ``wall/``), the nodes it measures, its
    URL, how to open a fresh, unconnected one for a session, and its own sampling interval."""

    key: str
    nodes: tuple[str, ...]
    url: str
    open_meter: Callable[[], Meter]
    interval_ms: int = 1000

    @property
    def samples_dir(self) -> str:
        return f"{WALL_DIR}/{self.key}"


class SourceFeed(SessionFeed):
    """What the live view hears of one wall meter beside the session's: its power as a ``wall_source`` event
    (the dashboard draws a line per node), and its markers (lost, back) with its key."""

    def __init__(self, feed: SessionFeed, plan: WallMeterPlan) -> None:
        super().__init__(feed.feed, feed.session_id)
        self.plan = plan

    def marker(self, phase: str, what: str, t_utc_ns: int) -> None:
        self.feed.publish("marker", session_id=self.session_id, phase=phase, what=f"{self.plan.key}: {what}",
                          t_utc_ns=t_utc_ns)  # fmt: skip

    def power(self, phase: str, samples: list[PowerSample], total_samples: int, energy_j: float) -> None:
        self.feed.publish(
            "wall_source",
            session_id=self.session_id,
            source=self.plan.key,
            nodes=list(self.plan.nodes),
            phase=phase,
            t_utc_ns=[s.t_utc_ns for s in samples],
            power_w=[s.power_w for s in samples],
            samples=total_samples,
            energy_j=energy_j,
        )


class WallSources:
    """The pumps of every wall meter beside the session's own; nothing is touched before :meth:`connect`."""

    def __init__(
        self,
        plans: Sequence[WallMeterPlan],
        run_folder: Path,
        config: SessionConfig,
        feed: SessionFeed,
        log: logging.Logger,
        clock: Clock,
        on_change: Callable[[], None],
        on_storage_failed: Callable[[str, StorageError], Awaitable[None]],
    ) -> None:
        self.plans = list(plans)
        self.run_folder = run_folder
        self._config = config
        self._log = log
        self.pumps: dict[str, MeterPump] = {
            plan.key: MeterPump(
                plan.open_meter(),
                dataclasses.replace(config, interval_ms=plan.interval_ms),
                SplFiles(run_folder / plan.samples_dir, log, f"{plan.samples_dir}/"),
                SourceFeed(feed, plan),
                log,
                clock,
                on_change,
                on_storage_failed,
            )
            for plan in self.plans
        }
        self.ranges: dict[str, dict[str, Ranges]] = {plan.key: {} for plan in self.plans}

    def __bool__(self) -> bool:
        return bool(self.plans)

    @property
    def simulated(self) -> bool:
        return any(p.identity is not None and p.identity.simulated for p in self.pumps.values())

    async def _each(self, what: str, act: Callable[[WallMeterPlan, MeterPump], Awaitable[None]]) -> None:
        """``act`` on every meter at once; the first meter error (named with its key and URL) is raised once all
        have finished, so no meter is left half started."""
        results = await asyncio.gather(*(act(p, self.pumps[p.key]) for p in self.plans), return_exceptions=True)
        for plan, result in zip(self.plans, results, strict=True):
            if isinstance(result, MeterError):
                raise type(result)(f"wall meter {plan.key} ({plan.url}) at {what}: {result}") from result
            if isinstance(result, BaseException):
                raise result

    async def connect(self) -> None:
        async def connect(plan: WallMeterPlan, pump: MeterPump) -> None:
            initial = await pump.connect()
            identity = pump.identity
            self._log.info("wall meter %s (%s, nodes %s): %s (initial ranges %s)", plan.key, plan.url,
                           ", ".join(plan.nodes), identity.raw if identity else "?", initial)  # fmt: skip

        await self._each("the session's open", connect)

    async def start(self, phase: str, mark: str) -> None:
        """Every meter's phase: ranging on Auto ranges, testing on the ranges its own ranging samples give."""

        async def start(plan: WallMeterPlan, pump: MeterPump) -> None:
            ranging = self.run_folder / plan.samples_dir / PHASE_DIRS["ranging"] / "spl.txt"
            if phase == "ranging" or not ranging.is_file():  # testing without ranging: as the client gave none
                ranges = Ranges.automatic()
            else:
                ranges = testing_ranges(pump, ranging, self._config.current_factor, self._log)
            await pump.start(phase, ranges, mark)
            self.ranges[plan.key][phase] = ranges

        await self._each(f"the {phase} start", start)

    async def start_with(self, own: MeterPump, phase: str, ranges: Ranges, mark: str) -> None:
        """The session's own meter (on ``ranges``) and every meter beside it, all at once (one settling); when
        one fails, none is left measuring and its error is raised."""
        started = await asyncio.gather(own.start(phase, ranges, mark), self.start(phase, mark), return_exceptions=True)
        failed = next((r for r in started if isinstance(r, BaseException)), None)
        if failed is None:
            return
        if self.plans:
            await asyncio.gather(own.abort(), self.abort())
        raise failed

    async def stop(self, phase: str, stop_utc_ns: int) -> None:
        await self._each(f"the {phase} stop", lambda _, pump: pump.stop(phase, stop_utc_ns))

    async def release(self) -> None:
        await asyncio.gather(*(pump.release() for pump in self.pumps.values()))

    async def abort(self) -> None:
        await asyncio.gather(*(pump.abort() for pump in self.pumps.values()))

    def gap_records(self) -> list[MeterGap]:
        return [gap.record().model_copy(update={"source": key}) for key, p in self.pumps.items() for gap in p.gaps]

    def records(self) -> list[WallMeterRecord]:
        """What session.json says of each meter: its URL, nodes, identity, samples and ranges per phase."""
        return [
            WallMeterRecord(
                key=plan.key,
                url=plan.url,
                nodes=list(plan.nodes),
                identity=self.pumps[plan.key].identity,
                samples=dict(self.pumps[plan.key].samples),
                ranges={
                    phase: RangesRecord(volts_v=r.volts_v, amps_a=r.amps_a)
                    for phase, r in self.ranges[plan.key].items()
                },
            )
            for plan in self.plans
        ]
