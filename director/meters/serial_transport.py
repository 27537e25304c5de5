"""Lines over a serial port (or anything ``serial.serial_for_url`` opens: ``/dev/ttyUSB0``,
``socket://host:port`` serial-over-TCP converters, ``loop://`` for tests)."""

from __future__ import annotations

import time

import serial

from director.errors import MeterConnectionError, MeterTimeoutError
from director.meters.transport import Clock, LineTransport

__all__ = ["SerialLineTransport"]

try:
    from termios import error as TermiosError  # a tcflush or tcdrain on a port whose device went away
except ImportError:  # not a POSIX system: pyserial raises its own errors there
    TermiosError = OSError  # type: ignore[misc,assignment]

PORT_ERRORS = (serial.SerialException, OSError, TermiosError)


class SerialLineTransport(LineTransport):
    def __init__(self, url: str, baudrate: int = 9600, timeout_s: float = 2.0, clock: Clock = time.time_ns) -> None:
        super().__init__(url, timeout_s, clock)
        self.url = url
        self.baudrate = baudrate
        self._port: serial.SerialBase | None = None

    def open(self) -> None:
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.02)
            # a reply to a query of the connection before (one that timed out) may still be waiting in the
            # line's buffer: it would answer this connection's first query
            self._port.reset_input_buffer()
        except (serial.SerialException, ValueError, OSError) as e:
            raise MeterConnectionError(f"cannot open the serial port: {e}", meter=self.name) from e
        self._buffer = b""

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None

    def _open_port(self, command: str) -> serial.SerialBase:
        if self._port is None:
            raise MeterConnectionError("not connected (call open() first)", meter=self.name, command=command)
        return self._port

    def _send(self, data: bytes, command: str) -> None:
        port = self._open_port(command)
        try:
            port.write(data.replace(b"\r\n", b"\n"))
            port.flush()
        except PORT_ERRORS as e:
            self.close()
            raise MeterConnectionError(f"serial write failed: {e}", meter=self.name, command=command) from e

    def _recv(self, command: str, deadline: float) -> bytes:
        port = self._open_port(command)
        while time.monotonic() < deadline:
            try:
                data = port.read(max(1, port.in_waiting))
            except PORT_ERRORS as e:
                self.close()
                raise MeterConnectionError(f"serial read failed: {e}", meter=self.name, command=command) from e
            if data:
                return bytes(data)
        # a late reply would answer the next query: throw away whatever half-line arrived
        self._buffer = b""
        try:
            port.reset_input_buffer()
        except PORT_ERRORS as e:  # the adapter was pulled while we waited
            self.close()
            raise MeterConnectionError(f"serial port gone: {e}", meter=self.name, command=command) from e
        raise MeterTimeoutError(f"no complete reply within {self.timeout_s} s", meter=self.name, command=command)
