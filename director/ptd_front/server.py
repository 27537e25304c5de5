"""SPEC PTDaemon's TCP text protocol in front of an instrument: the simulated analyzer, or a real one read
through mlpower's drivers (:class:`~director.ptd_front.instrument.PtdInstrument`).

Replies that also appear in real published sessions (the fixtures' ``ptd_messages``)
are reproduced exactly; the rest follow the same style and are listed in
docs/ptd-simulator.md. Everything a simulated analyzer says about itself says "simulated";
a real one served this way says mlpower, never SPEC PTDaemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from director.errors import DirectorError, MeterConfigError
from director.ptd_front.instrument import AnalyzerSample, PtdInstrument, RangeError
from powerlog.ptd_replies import (
    BAD_PARAMS_REPLY,
    HELLO_REPLY,
    MAX_SAMPLES,
    NOTHING_TO_STOP_REPLY,
    UNKNOWN_COMMAND_REPLY,
    go_reply,
    range_changed_reply,
    stop_reply,
)
from powerlog.ptd_rl import format_rl_line, rl_header
from powerlog.ptdlog import format_ptd_log_line
from powerlog.spl import format_spl_line

__all__ = ["MAX_SAMPLES", "MIN_INTERVAL_MS", "PtdLogFile", "PtdSimulator", "serve_until_signalled"]

MIN_INTERVAL_MS = 100
UNCERTAINTY_LIMIT = 0.01
Clock = Callable[[], int]


class PtdLogFile:
    """PTDaemon's debug log (ptd_logs.txt) in its format: timestamped CRLF lines, flushed one by one, to a
    file and/or a stream (PTDaemon itself writes it to stdout, which power-dev saves as ptd_logs.txt)."""

    def __init__(self, path: Path | None, clock: Clock = time.time_ns, stream: IO[str] | None = None) -> None:
        self.path = path
        self.clock = clock
        self.stream = stream
        self._file: IO[str] | None = None

    def open(self) -> None:
        if self.path is not None and self._file is None:
            self._file = self.path.open("a", encoding="utf-8", newline="")

    def raw(self, text: str) -> None:
        for out in (self._file, self.stream):
            if out is not None:
                out.write(text + "\r\n")
                out.flush()

    def event(self, message: str) -> None:
        self.raw(format_ptd_log_line(self.clock(), message))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class _Measurement:
    mark: str
    interval_ms: int
    max_samples: int  # 0 = untimed
    samples: list[AnalyzerSample] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class PtdSimulator:
    """One analyzer shared by every connection, as with one PTDaemon process."""

    def __init__(self, analyzer: PtdInstrument, log: PtdLogFile, sample_log: Path | None = None) -> None:
        self.analyzer = analyzer
        self.log = log
        self.sample_log = sample_log  # PTDaemon's -l file: every sample as a complete spl.txt line
        self._sample_file: IO[str] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.mark = ""
        self.measurement: _Measurement | None = None
        self.last: _Measurement | None = None  # kept after Stop for Watts/Uncertainty
        self._unread: list[AnalyzerSample] = []
        self.server: asyncio.Server | None = None

    # the protocol ---------------------------------------------------------------------
    @property
    def identify_reply(self) -> str:
        return self.analyzer.identify_reply()

    def rl_command(self) -> str:
        if self.analyzer.dc:
            return "DC-RL"
        return "RL,*,*" if self.analyzer.channels > 1 else "RL"

    def handle(self, line: str) -> list[str]:
        """Reply lines for one command line."""
        parts = line.strip().split(",")
        word = parts[0].strip().lower()
        handler = {
            "hello": self._hello,
            "identify": self._identify,
            "rr": self._read_ranges,
            "sr": self._set_range,
            "go": self._go,
            "stop": self._stop,
            "mark": self._mark,
            "watts": self._watts,
            "uncertainty": self._uncertainty,
            "rl": self._read_log,
            "dc-rl": self._read_log,
        }.get(word)
        if handler is None:
            return [UNKNOWN_COMMAND_REPLY]
        return handler(parts)

    def _hello(self, parts: list[str]) -> list[str]:
        return [HELLO_REPLY] if len(parts) == 1 else [BAD_PARAMS_REPLY]

    def _identify(self, parts: list[str]) -> list[str]:
        return [self.identify_reply] if len(parts) == 1 else [BAD_PARAMS_REPLY]

    def _read_ranges(self, parts: list[str]) -> list[str]:
        if len(parts) != 1:
            return [BAD_PARAMS_REPLY]
        a = self.analyzer

        def pair(value: float | None) -> str:
            return "1,-1.000000" if value is None else f"0,{value:.6f}"

        return [f"Ranges,{pair(a.amps_range_a)},{pair(a.volts_range_v)}"]

    def _set_range(self, parts: list[str]) -> list[str]:
        if len(parts) != 3 or parts[1].upper() not in ("V", "A"):
            return [BAD_PARAMS_REPLY]
        which, value_text = parts[1].upper(), parts[2].strip()
        if self.measurement is not None:
            return ["Error: cannot change ranges during a measurement"]
        try:
            value = None if value_text.lower() == "auto" else float(value_text)
        except ValueError:
            return [f"Error: invalid range value '{value_text}'"]
        try:
            if which == "V":
                applied = self.analyzer.set_volts_range(value)
                self.log.event(f"Volt range set to {'Auto' if applied is None else f'{applied:.6f}V'}")
            else:
                applied = self.analyzer.set_amps_range(value)
                self.log.event(f"{'Ampere' if applied is None else 'Amp'} range set to "
                               f"{'Auto' if applied is None else f'{applied:.6f}A'}")  # fmt: skip
        except RangeError as e:
            return [f"Error: {e}"]
        return [range_changed_reply(which)]

    def _go(self, parts: list[str]) -> list[str]:
        self.log.event("Go command received")
        if len(parts) != 4:
            return [BAD_PARAMS_REPLY]
        try:
            interval_ms, count = int(parts[1]), int(parts[2])
        except ValueError:
            return ["Error: interval and count must be integers"]
        if interval_ms < MIN_INTERVAL_MS or count < 0 or count > MAX_SAMPLES:
            return [f"Error: interval must be >= {MIN_INTERVAL_MS} ms and count 0..{MAX_SAMPLES}"]
        if self.measurement is not None:
            return ["Error: a measurement is already running"]
        refused = self.analyzer.interval_error(interval_ms)
        if refused is not None:
            return [f"Error: {refused}"]
        self.mark = parts[3]
        self.measurement = _Measurement(self.mark, interval_ms, count)
        self._unread = []
        self.log.event(f"Go with mark '{self.mark}'")
        self.measurement.task = asyncio.get_running_loop().create_task(self._sample_loop(self.measurement))
        return [go_reply(interval_ms, count)]

    def _stop(self, parts: list[str]) -> list[str]:
        if len(parts) != 1:
            return [BAD_PARAMS_REPLY]
        self.log.event("Stop command received")
        measurement = self.measurement
        if measurement is None:
            return [NOTHING_TO_STOP_REPLY]
        self.analyzer.halt()
        if measurement.task is not None:
            measurement.task.cancel()
        self._finish(measurement)
        # PTDaemon logs its reply before the "Completed test" lines
        asyncio.get_running_loop().call_soon(self._log_completion, measurement)
        return [stop_reply(timed=measurement.max_samples > 0)]

    def _mark(self, parts: list[str]) -> list[str]:
        if len(parts) != 2 or not parts[1]:
            return [BAD_PARAMS_REPLY]
        self.mark = parts[1]
        if self.measurement is not None:
            self.measurement.mark = parts[1]
        self.log.event(f"Mark changed to '{self.mark}'")
        return ["Mark changed"]

    def _current(self) -> list[AnalyzerSample]:
        m = self.measurement or self.last
        return m.samples if m else []

    def _watts(self, parts: list[str]) -> list[str]:
        if len(parts) != 1:
            return [BAD_PARAMS_REPLY]
        samples = self._current()
        valid = [s.sample.power_w for s in samples if not s.current_too_high]
        errors = len(samples) - len(valid)
        if not valid:
            return [f"Watts,0.000000,0.000000,0.000000,{len(samples)},{errors},0"]
        avg = sum(valid) / len(valid)
        return [f"Watts,{avg:.6f},{min(valid):.6f},{max(valid):.6f},{len(samples)},{errors},{len(valid)}"]

    def _uncertainty(self, parts: list[str]) -> list[str]:
        if len(parts) != 1:
            return [BAD_PARAMS_REPLY]
        samples = self._current()
        known = [s.uncertainty for s in samples if s.uncertainty is not None]
        # as PTDaemon 1.11.1 counts: errors = samples above the limit (and flagged ones), valid = known within
        # it, unknown = the rest; errors + valid + unknown = samples; avg/min/max over every known one
        above = sum(1 for u in known if u > UNCERTAINTY_LIMIT)
        flagged = sum(1 for s in samples if s.current_too_high and s.uncertainty is None)
        errors, valid = above + flagged, len(known) - above
        unknown = len(samples) - len(known) - flagged
        if not known:
            # PTDaemon 1.10/1.11 with no known uncertainty (Auto ranging): avg -1, min 1e7, max 0
            return [f"Uncertainty,-1.0,10000000.000000,0.000000,{len(samples)},{errors},0,{unknown}"]
        avg = sum(known) / len(known)
        return [f"Uncertainty,{avg:.6f},{min(known):.6f},{max(known):.6f},{len(samples)},{errors},{valid},{unknown}"]

    def _read_log(self, parts: list[str]) -> list[str]:
        command = ",".join(p.strip() for p in parts)
        expected = self.rl_command()
        if command.upper() != expected:
            if self.analyzer.dc or command.upper() == "DC-RL":
                return [UNKNOWN_COMMAND_REPLY]
            return [BAD_PARAMS_REPLY]
        unread, self._unread = self._unread, []
        channels = self.analyzer.channels if command.upper() == "RL,*,*" else 1
        return [rl_header(len(unread), channels), *(format_rl_line(s.sample) for s in unread)]

    # sampling -------------------------------------------------------------------------
    async def _sample_loop(self, m: _Measurement) -> None:
        limit = m.max_samples or MAX_SAMPLES
        stream = self.analyzer.stream(m.interval_ms, lambda: m.mark)
        try:
            async for sample in stream:
                self._record(m, sample)
                if len(m.samples) >= limit:
                    break
        except DirectorError as e:  # the analyzer stopped answering: PTDaemon logs it and ends the measurement
            self.log.event(f"ERROR: {e}")
        finally:
            await stream.aclose()
        if self._finish(m):
            self._log_completion(m)

    def _record(self, m: _Measurement, s: AnalyzerSample) -> None:
        m.samples.append(s)
        self._unread.append(s)
        if self._sample_file is not None:
            self._sample_file.write(format_spl_line(s.sample) + "\r\n")
            self._sample_file.flush()
        if s.current_too_high:
            self.log.event("ERROR: Current appears to be too high for set range")
        self._log_uncertainty(s)

    def _log_uncertainty(self, s: AnalyzerSample) -> None:
        """PTDaemon 1.11.1's lines for one sample: a single channel in one line; a multichannel analyzer's
        logical channels 1..n, each, then 0 (the sum), as ``..., logical channel N!``."""
        if not s.channel_uncertainties:
            self._log_channel_uncertainty(s.uncertainty, "!", evaluate_error=True)
            return
        for ch, value in enumerate(s.channel_uncertainties, start=1):
            self._log_channel_uncertainty(value, f", logical channel {ch}!", evaluate_error=True)
        self._log_channel_uncertainty(s.uncertainty, ", logical channel 0!", evaluate_error=False)

    def _log_channel_uncertainty(self, value: float | None, end: str, *, evaluate_error: bool) -> None:
        if value is None:
            if evaluate_error:
                self.log.event("ERROR: Can't evaluate uncertainty of this sample!")
            self.log.event(f"WARNING: Uncertainty unknown for the last measurement sample{end}")
        elif value > UNCERTAINTY_LIMIT:
            self.log.event(
                f"WARNING: Uncertainty {100 * value:.2f}%, which is above {100 * UNCERTAINTY_LIMIT:.2f}% limit "
                f"for the last sample{end}"
            )

    def _finish(self, m: _Measurement) -> bool:
        if self.measurement is not m:
            return False
        self.measurement, self.last = None, m
        return True

    def _log_completion(self, m: _Measurement) -> None:
        valid = [s.sample.power_w for s in m.samples if not s.current_too_high]
        avg, low, high = (sum(valid) / len(valid), min(valid), max(valid)) if valid else (0.0, 0.0, 0.0)
        self.log.event("Completed test")
        self.log.event(
            f"Avg watts {avg:.6f}, min watts {low:.6f}, max watts {high:.6f}, "
            f"samples {len(m.samples)}, errors {len(m.samples) - len(valid)}, valid {len(valid)}"
        )

    # the server -----------------------------------------------------------------------
    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.log.open()
        if self.sample_log is not None:
            self._sample_file = self.sample_log.open("a", encoding="utf-8", newline="")
        for line in self.analyzer.startup_lines():
            self.log.raw(line)
        # the official checker looks for "Uncertainty checking for Yokogawa... is activated"
        by = "SIMULATED by mlpower" if "Simulated" in self.analyzer.model else "evaluated by mlpower"
        self.log.event(f"Uncertainty checking for {self.analyzer.yokogawa_model} is activated ({by})")
        self.log.event(f"Connected to {self.analyzer.model} successfully")
        self.server = await asyncio.start_server(self._client, host, port)
        bound_host, bound_port = self.server.sockets[0].getsockname()[:2]
        self.log.event(f"Establishing the listener on port {bound_port}...")
        self.log.event("Waiting for a connection...")
        return bound_host, bound_port

    async def close(self) -> None:
        """Stop listening, end every connection (their handlers return), close the logs."""
        if self.measurement is not None:
            self.analyzer.halt()
            if self.measurement.task is not None:
                self.measurement.task.cancel()
        if self.server is not None:
            self.server.close()
            for writer in list(self._writers):
                writer.close()
            await self.server.wait_closed()
        self.log.close()
        if self._sample_file is not None:
            self._sample_file.close()
            self._sample_file = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self.log.event(f"Accepted connection from {peer[0]}:{peer[1]}" if peer else "Accepted connection")
        self._writers.add(writer)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    writer.write(b"Error: command line too long\r\n")
                    break
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                reply = self.handle(text)
                self.log.event(f"Response to client sent: {reply[0]}")
                for line in reply[1:]:  # PTDaemon logs a whole RL reply, its sample lines untimestamped
                    self.log.raw(line)
                writer.write(("\r\n".join(reply) + "\r\n").encode("utf-8"))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the simulator is stopping: either way the connection ends here
        finally:
            self._writers.discard(writer)
            self.log.event("No data returned by socket read.")
            self.log.event("Shutting connection down...")
            self.log.event("Connection is down.")
            with contextlib.suppress(ConnectionError):
                writer.close()


def serve_until_signalled(
    simulator: PtdSimulator, host: str, port: int, on_listening: Callable[[str, int], None] | None = None
) -> None:
    """Serve until SIGINT or SIGTERM, then close cleanly (connected clients included); ``on_listening``
    gets the bound address. Raises :class:`MeterConfigError` when the port cannot be bound."""

    async def run() -> None:
        try:
            bound_host, bound_port = await simulator.start(host, port)
        except OSError as e:
            await simulator.close()
            raise MeterConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        if on_listening is not None:
            on_listening(bound_host, bound_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await simulator.close()

    asyncio.run(run())
