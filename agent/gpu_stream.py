"""Sampling GPUs (and component sensors) on the SUT and streaming the readings to the director in batches.

A background thread reads the source's power on an absolute schedule, reads the energy
counters with every batch (and at phase boundaries on request), and queues one batch per
GPU and kind. A source with only a live value is polled at ``rate_hz``; one that keeps its
values for a while (``history_s``) is read a few times a second, and of its values one per
``1 / rate_hz`` slot of time is kept: the same readings, without waking 100 times a second.
A second thread hands the queued batches to ``send``, so a network that swallows a request
(and makes ``send`` wait for its timeout) never delays a reading. Batches that cannot be
sent stay in a bounded buffer and go again later; the director stores each (source, seq)
once, so sending twice is harmless.

Component sources (RAPL domains, hwmon sensors: :mod:`agent.components`) are read by a third thread at
their own rate (``component_rate_hz``), each reading of every sensor at once; their batches, named
``<family>.<name>.power`` / ``.energy`` and sent as kind ``component`` (never as GPUs), go through the same
buffer and the same requests as the GPUs'.

Every GPU reading is also shown to a :class:`~agent.gpu.watch.GpuWatch`, which says a counter reset or wrap, a
stuck counter or a GPU reporting zero as an event as soon as it sees one (in ``stats.events`` with the source's).
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agent.components.base import ComponentEnergy, ComponentPower, ComponentSource
from agent.errors import AgentError
from agent.gpu.base import EnergyReading, GpuSource, PowerReading
from agent.gpu.watch import GpuWatch
from powerlog.components import component_source
from powerlog.wire import MAX_BATCHES_PER_REQUEST, SampleBatch

__all__ = ["GpuSampler", "SamplerStats", "SutSampler"]

Clock = Callable[[], int]
MAX_ROUND_TRIPS_KEPT = 100_000  # a day of one request a second
READS_PER_HISTORY = 4  # a source with history is read this many times within it (or within a batch)


@dataclass
class SamplerStats:
    batches_sent: int = 0
    batches_dropped: int = 0  # only when the buffer overflowed during a long outage
    send_failures: int = 0
    power_readings: int = 0
    energy_readings: int = 0
    component_readings: int = 0  # power and energy values of component sensors
    events: list[str] = field(default_factory=list)
    # the round trip of each request that delivered batches (the director's ingest latency as the SUT sees it)
    send_p50_ms: float | None = None
    send_p99_ms: float | None = None
    send_max_ms: float | None = None


class SutSampler:
    """GPUs (``source``), component sensors (``components``), or both; either may be None."""

    def __init__(
        self,
        source: GpuSource | None,
        send: Callable[[list[SampleBatch]], None],
        rate_hz: float = 10.0,
        batch_s: float = 1.0,
        max_buffered_batches: int = 10_000,
        components: ComponentSource | None = None,
        component_rate_hz: float = 10.0,
        first_batch_delay_s: float = 0.0,
    ) -> None:
        if not 0 < rate_hz <= 100:
            raise ValueError(f"GPU sample rate must be in (0, 100] Hz, got {rate_hz}")
        if not 0 < component_rate_hz <= 100:
            raise ValueError(f"component sample rate must be in (0, 100] Hz, got {component_rate_hz}")
        self.source = source
        self.components = components
        self.send = send
        self.period_s = 1.0 / rate_hz
        self.component_period_s = 1.0 / component_rate_hz
        self.batch_s = batch_s
        # added to the first batch's wait only: node agents that start together (woken by one session's open) each
        # take another phase of the batch interval, so a rack's batches do not reach the director all at once
        self.first_batch_delay_s = first_batch_delay_s
        self._period_ns = round(self.period_s * 1e9)
        self._has_history = source is not None and source.history_s > 0
        self.read_every_s = self.period_s
        if source is not None and self._has_history:
            self.read_every_s = max(self.period_s, min(source.history_s, batch_s) / READS_PER_HISTORY)
        self._last_slot: dict[int, int] = {}  # per GPU, the rate slot of the last value kept from a history
        self.stats = SamplerStats()
        self._watch = GpuWatch()
        self._power: dict[int, list[PowerReading]] = collections.defaultdict(list)
        self._energy: dict[int, list[EnergyReading]] = collections.defaultdict(list)
        self._component_power: dict[str, list[ComponentPower]] = collections.defaultdict(list)
        self._component_energy: dict[str, list[ComponentEnergy]] = collections.defaultdict(list)
        self._buffer: collections.deque[SampleBatch] = collections.deque(maxlen=max_buffered_batches)
        self._seq: dict[str, int] = collections.defaultdict(int)
        self._round_trips_ms: collections.deque[float] = collections.deque(maxlen=MAX_ROUND_TRIPS_KEPT)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._component_thread: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        self._queued = threading.Event()

    def start(self) -> None:
        if self.source is not None:
            self._thread = threading.Thread(target=self._run, name="mlpower-gpu-sampler", daemon=True)
            self._thread.start()
        if self.components is not None:
            self._component_thread = threading.Thread(
                target=self._run_components, name="mlpower-component-sampler", daemon=True
            )
            self._component_thread.start()
        self._sender = threading.Thread(target=self._send_loop, name="mlpower-gpu-sender", daemon=True)
        self._sender.start()

    def mark_boundary(self) -> None:
        """Read the energy counters now (a phase starts or stops)."""
        with self._lock:
            self._collect_energy()
            self._collect_components()

    def stop(self, flush_timeout_s: float = 30.0) -> None:
        """Stop polling, read the counters a last time, and try to send everything still buffered."""
        self._stop.set()
        self._queued.set()
        for thread in (self._thread, self._component_thread, self._sender):
            if thread is not None:
                thread.join()
        with self._lock:
            self._collect_energy()
            self._collect_components()
            self._make_batches()
        deadline = time.monotonic() + flush_timeout_s
        while self._buffer and time.monotonic() < deadline:
            if not self._send_buffered():
                time.sleep(0.5)
        self._take_events()
        if self._round_trips_ms:
            p50, p99 = np.percentile(np.array(self._round_trips_ms), [50, 99])
            self.stats.send_p50_ms, self.stats.send_p99_ms = float(p50), float(p99)
            self.stats.send_max_ms = max(self._round_trips_ms)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _take_events(self) -> None:
        for source in (self.source, self.components):
            if source is not None:
                self.stats.events.extend(source.take_events())
        self.stats.events.extend(self._watch.take_events())

    def _run(self) -> None:
        assert self.source is not None
        start = time.monotonic()
        next_batch = start + self.batch_s + self.first_batch_delay_s
        k = 0
        while not self._stop.is_set():
            k += 1
            # a plain sleep: waking from Event.wait costs nearly twice as much CPU, 100 times a second
            time.sleep(max(0.0, start + k * self.read_every_s - time.monotonic()))
            with self._lock:
                readings = self.source.read_power()
                if self._has_history:
                    readings = self._thinned(readings)
                for r in readings:
                    self._power[r.gpu_index].append(r)
                self._watch.power(readings)
                self.stats.power_readings += len(readings)
                if time.monotonic() >= next_batch:
                    next_batch += self.batch_s
                    self._collect_energy()
                    self._make_batches()
                    self._take_events()
                    self._queued.set()

    def _run_components(self) -> None:
        """Every sensor once per ``1 / component_rate_hz``; batches from here too when there are no GPUs."""
        start = time.monotonic()
        next_batch = start + self.batch_s + self.first_batch_delay_s
        k = 0
        while not self._stop.is_set():
            k += 1
            time.sleep(max(0.0, start + k * self.component_period_s - time.monotonic()))
            with self._lock:
                self._collect_components()
                if self.source is None and time.monotonic() >= next_batch:
                    next_batch += self.batch_s
                    self._make_batches()
                    self._take_events()
                    self._queued.set()

    def _thinned(self, readings: list[PowerReading]) -> list[PowerReading]:
        """Of a source's history, the first value of each ``1 / rate_hz`` slot of time, per GPU."""
        kept = []
        for r in readings:
            slot = r.t_utc_ns // self._period_ns
            if slot > self._last_slot.get(r.gpu_index, -1):
                self._last_slot[r.gpu_index] = slot
                kept.append(r)
        return kept

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._queued.wait(timeout=1.0)
            self._queued.clear()
            if not self._send_buffered():
                self._stop.wait(0.5)  # the director is unreachable: try again shortly

    def _collect_components(self) -> None:
        if self.components is None:
            return
        powers, energies = self.components.read()
        for p in powers:
            self._component_power[p.name].append(p)
        for e in energies:
            self._component_energy[e.name].append(e)
        self.stats.component_readings += len(powers) + len(energies)

    def _collect_energy(self) -> None:
        if self.source is None:
            return
        readings = self.source.read_energy()
        for r in readings:
            self._energy[r.gpu_index].append(r)
        self._watch.energy(readings)
        self.stats.energy_readings += len(readings)

    def _make_batches(self) -> None:
        self._make_component_batches()
        if self.source is None:
            return
        simulated = self.source.simulated
        for index, readings in self._power.items():
            if readings:
                self._queue(
                    f"gpu{index}.power",
                    {"t_utc_ns": [r.t_utc_ns for r in readings], "power_w": [r.power_w for r in readings]},
                    simulated,
                )
        for index, counters in self._energy.items():
            if counters:
                self._queue(
                    f"gpu{index}.energy",
                    {"t_utc_ns": [r.t_utc_ns for r in counters], "energy_j": [r.energy_j for r in counters]},
                    simulated,
                )
        self._power.clear()
        self._energy.clear()

    def _make_component_batches(self) -> None:
        if self.components is None:
            return
        simulated = self.components.simulated
        for name, powers in self._component_power.items():
            if powers:
                columns: dict[str, list[int] | list[float]] = {
                    "t_utc_ns": [p.t_utc_ns for p in powers],
                    "power_w": [p.power_w for p in powers],
                }
                self._queue(component_source(name, "power"), columns, simulated, "component")
        for name, energies in self._component_energy.items():
            if energies:
                columns = {"t_utc_ns": [e.t_utc_ns for e in energies], "energy_j": [e.energy_j for e in energies]}
                self._queue(component_source(name, "energy"), columns, simulated, "component")
        self._component_power.clear()
        self._component_energy.clear()

    def _queue(
        self, source: str, columns: dict[str, list[int] | list[float]], simulated: bool, kind: str = "gpu"
    ) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.stats.batches_dropped += 1
        batch = SampleBatch(source=source, seq=self._seq[source], simulated=simulated, kind=kind, columns=columns)  # type: ignore[arg-type]
        self._seq[source] += 1
        self._buffer.append(batch)

    def _send_buffered(self) -> bool:
        """Send buffered batches oldest first; False at the first failure (they stay for the next try)."""
        # one caller at a time: the sender thread, then stop() once that thread has ended
        while True:
            with self._lock:
                if not self._buffer:
                    return True
                group = list(itertools.islice(self._buffer, MAX_BATCHES_PER_REQUEST))  # oldest first
            sent_s = time.perf_counter()
            try:
                self.send(group)  # a group partly stored before a failure is safe to send again: (source, seq)
            except AgentError:
                self.stats.send_failures += 1
                return False
            self._round_trips_ms.append((time.perf_counter() - sent_s) * 1000)
            with self._lock:
                for batch in group:
                    if self._buffer and self._buffer[0] is batch:  # not pushed out meanwhile by a full buffer
                        self._buffer.popleft()
                self.stats.batches_sent += len(group)


GpuSampler = SutSampler  # the name it had when it sampled GPUs only
