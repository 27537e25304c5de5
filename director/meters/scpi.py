"""What every SCPI power analyzer on a serial line has in common, whoever makes it.

:class:`SerialScpiMeter` keeps the transport's exchanges, checks every setting against the error queue, reads
the update interval's samples on a background thread (each update once) and hands them to :meth:`read_new`;
a reply that does not parse is rejected whole and recorded, never averaged in. A subclass says which commands
its analyzer takes (identity, ranges, the measurement's settings, the update flag, the values) and declares
its :class:`~director.meters.model.MeterModel`; :func:`serial_model` builds the declaration of such a model
for ``serial://`` and ``serial+socket://`` URLs (and ``sim://`` when it has a simulator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from director.errors import MeterConfigError, MeterError, MeterErrorReply, MeterProtocolError
from director.meters.base import Meter, MeterBase, MeterIdentity
from director.meters.model import MeterModel, MeterUrl, url_timeout_s
from director.meters.poller import Poller
from director.meters.ranges import Ranges, RangeTable, round_up_to_range
from director.meters.serial_transport import SerialLineTransport
from director.meters.transport import Exchange, LineTransport
from powerlog.lines import BadLine
from powerlog.spl import PowerSample
from powerlog.tiers import MeasurementTier

__all__ = ["POLL_S", "SerialScpiMeter", "check_serial_url", "serial_model", "serial_transport"]

POLL_S = 0.01
SERIAL_OPTIONS = {"serial": frozenset({"model", "rate", "baud", "timeout"}),
                  "serial+socket": frozenset({"model", "rate", "timeout"})}  # fmt: skip


class SerialScpiMeter(MeterBase):
    """A SCPI analyzer on a serial line, polled for updates. Implements the ``Meter`` protocol with a subclass's
    commands: :meth:`identify`, :meth:`read_ranges`, :meth:`set_ranges`, :meth:`_configure`, :meth:`_updated`,
    :meth:`_read_values` and :meth:`_sample`."""

    family: ClassVar[str]  # the model family, in messages and the poller thread's name
    table: ClassVar[RangeTable]
    rates: ClassVar[dict[int, str]]  # update interval in ms -> the analyzer's argument for it
    error_query: ClassVar[str] = ":STATUS:ERROR?"
    no_error_prefix: ClassVar[str] = "0,"

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.name = transport.name
        self.identity: MeterIdentity | None = None
        self.initial_ranges: Ranges | None = None
        self.ranges = Ranges.automatic()
        self.rejected_lines: list[BadLine] = []
        self.uncertainties: list[float | None] = []
        self._poller: Poller[tuple[PowerSample, float | None]] = Poller(self.name)
        self._lock = self._poller.lock  # one command at a time: the poller's and the session's
        self._mark = ""

    # what a model changes ----------------------------------------------------------
    def _configure(self, interval_ms: int) -> None:
        """Set the analyzer up to measure every ``interval_ms`` (a key of :attr:`rates`), before the poller runs."""
        raise NotImplementedError

    def _updated(self) -> bool:
        """Whether a new update waits (reading says so and clears it); MeterProtocolError if the reply is unusable."""
        raise NotImplementedError

    def _read_values(self) -> str:
        """The latest update's values, as the analyzer answers them."""
        raise NotImplementedError

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        """The sample and its uncertainty; MeterProtocolError when the reply is not usable."""
        raise NotImplementedError

    def power_uncertainty(self, power_w: float) -> float | None:
        """The uncertainty of one element's reading at the ranges set, a fraction of it; None: not known."""
        return None

    # the Meter protocol ------------------------------------------------------------
    @property
    def exchanges(self) -> Sequence[Exchange]:
        return self.transport.exchanges

    def _query(self, command: str, record: bool = True) -> str:
        with self._lock:
            reply, _ = self.transport.exchange(command, record=record)
        return reply

    def _write(self, command: str) -> None:
        """A setting (no reply), then the error queue so a refused setting is not silent."""
        with self._lock:
            self.transport.send_only(command)
            error, _ = self.transport.exchange(self.error_query)
        if not error.startswith(self.no_error_prefix):
            raise MeterErrorReply(f"the analyzer refused it: {error}", meter=self.name, command=command, reply=error)

    def open(self) -> None:
        self.transport.open()

    def close(self) -> None:
        self._stop_thread()
        self.transport.close()

    def _fitted(self, ranges: Ranges) -> Ranges:
        """The ranges the analyzer really uses for ``ranges``: each rounded up to its table."""
        return Ranges(
            None if ranges.volts_v is None else round_up_to_range(ranges.volts_v, self.table.volts_v),
            None if ranges.amps_a is None else round_up_to_range(ranges.amps_a, self.table.amps_a),
        )

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        if interval_ms not in self.rates:
            raise ValueError(f"the {self.family} updates every {', '.join(map(str, self.rates))} ms, not {interval_ms}")
        self._configure(interval_ms)
        self._mark = mark
        self._poller.start(self._poll, f"{self.family.lower()} {self.name}")

    def _poll(self) -> None:
        """Read every update until stopped; a MeterError ends the loop (the poller keeps it)."""
        while not self._poller.stopping.is_set():
            try:
                if not self._updated():
                    self._poller.stopping.wait(POLL_S)
                    continue
                t_utc_ns = self.transport.clock()
                sample, uncertainty = self._sample(self._read_values(), t_utc_ns)
            except MeterProtocolError as e:
                self.rejected_lines.append(BadLine(self.name, 0, str(e), (e.reply or "")[:200]))
                continue
            with self._lock:
                self.uncertainties.append(uncertainty)
            self._poller.put((sample, uncertainty))

    @property
    def poll_error(self) -> MeterError | None:
        """The error that ended the polling loop, if one did (raised by the read after the last sample)."""
        return self._poller.error

    def read_new(self) -> list[PowerSample]:
        return [sample for sample, _ in self.read_new_with_uncertainty()]

    def read_new_with_uncertainty(self) -> list[tuple[PowerSample, float | None]]:
        """Like :meth:`read_new`, each sample with its uncertainty (a fraction of the reading; None: unknown)."""
        return self._poller.take()

    def _stop_thread(self) -> bool:
        return self._poller.stop(join_timeout_s=5)

    def stop(self) -> bool:
        return self._stop_thread()


def serial_transport(url: MeterUrl) -> SerialLineTransport:
    """The serial line a ``serial://`` or ``serial+socket://`` URL names, not yet open."""
    if url.scheme == "serial+socket":
        return SerialLineTransport(f"socket://{url.host}:{url.port}", timeout_s=url_timeout_s(url, 2.0))
    baud = int(url.options.get("baud", "9600"))
    return SerialLineTransport(url.path, baudrate=baud, timeout_s=url_timeout_s(url, 2.0))


def check_serial_url(url: MeterUrl) -> MeterUrl:
    """A serial line's URL names a device (``serial://``) or a host (``serial+socket://``)."""
    if url.scheme == "serial+socket" and not url.host:
        raise MeterConfigError(f"meter URL {url.text!r} has no host")
    if url.scheme == "serial" and not url.path:
        raise MeterConfigError(f"meter URL {url.text!r} names no serial device, e.g. serial:///dev/ttyUSB0?model=wt310")
    return url


def serial_model(
    driver: Callable[[LineTransport], Meter],
    name: str,
    url_models: tuple[str, ...],
    *,
    table: RangeTable,
    rates_ms: Iterable[int],
    device_types: tuple[str, ...] = (),
    model_names: tuple[str, ...] = (),
    simulator: str | None = None,
    default_url_model: str | None = None,
) -> MeterModel:
    """The declaration of a serial SCPI analyzer whose driver ``driver`` builds on a transport (in the class body:
    ``lambda transport: TheDriver(transport)``): ``serial://`` and ``serial+socket://`` with ``model=`` one of
    ``url_models``, its range table and update rates, read directly (tier ``direct``)."""

    def open_driver(url: MeterUrl) -> Meter:
        return driver(serial_transport(url))

    return MeterModel(
        name=name,
        schemes=("serial", "serial+socket"),
        tier=MeasurementTier.DIRECT,
        open=open_driver,
        options=SERIAL_OPTIONS,
        check_url=check_serial_url,
        url_models=url_models,
        default_url_model=default_url_model,
        device_types=device_types,
        model_names=model_names,
        range_table=table,
        rates_ms=tuple(rates_ms),
        simulator=simulator,
        simulator_options=frozenset({"signal"}) if simulator else frozenset(),
        example=f"serial:///dev/ttyUSB0?model={url_models[0]}, serial+socket://HOST:PORT?model={url_models[0]}",
    )
