"""What a session tells the live feed: state changes, phase markers, wall samples and SUT readings."""

from __future__ import annotations

from director.live import LiveFeed
from powerlog.clock_map import SutClockMap
from powerlog.spl import PowerSample
from powerlog.wire import SampleBatch, SessionState

__all__ = ["LIVE_POINTS_PER_BATCH", "SessionFeed"]

LIVE_POINTS_PER_BATCH = 10  # the live plot needs no 100 Hz: keeps the feed small


class SessionFeed:
    """One session's events on the director's :class:`LiveFeed`, each carrying the session id."""

    def __init__(self, feed: LiveFeed, session_id: str) -> None:
        self.feed = feed
        self.session_id = session_id
        self.first_seq = feed.last_seq  # the live view of this session starts after it

    def state(
        self,
        state: SessionState,
        error: str | None,
        simulated: bool,
        verdict: str | None = None,
        official_verdict: str | None = None,
    ) -> None:
        """A state change; a closed session's carries the analyzer's verdicts (result.json's check)."""
        self.feed.publish(
            "state",
            session_id=self.session_id,
            state=state.value,
            error=error,
            simulated=simulated,
            verdict=verdict,
            official_verdict=official_verdict,
        )

    def marker(self, phase: str, what: str, t_utc_ns: int) -> None:
        self.feed.publish("marker", session_id=self.session_id, phase=phase, what=what, t_utc_ns=t_utc_ns)

    def power(self, phase: str, samples: list[PowerSample], total_samples: int, energy_j: float) -> None:
        self.feed.publish(
            "power",
            session_id=self.session_id,
            phase=phase,
            t_utc_ns=[s.t_utc_ns for s in samples],
            power_w=[s.power_w for s in samples],
            channels_w=[[c.power_w for c in s.channels] for s in samples] if samples[0].channels else None,
            samples=total_samples,
            energy_j=energy_j,
        )

    def gpu(self, batch: SampleBatch, clock_map: SutClockMap, node: str = "") -> None:
        """A SUT batch with power readings, thinned, its times moved onto the director's clock (a node agent's:
        by that node's own clock map, its source named ``<node>:<source>``)."""
        times = batch.columns["t_utc_ns"]
        step = max(1, len(times) // LIVE_POINTS_PER_BATCH)
        self.feed.publish(
            "gpu",
            session_id=self.session_id,
            source=f"{node}:{batch.source}" if node else batch.source,
            node=node or None,
            simulated=batch.simulated,
            t_utc_ns=[clock_map.to_director_ns(int(t)) for t in times[::step]],
            power_w=batch.columns["power_w"][::step],
        )
