"""Transports own the bytes: sockets, CRLF framing, timeouts, and the log of every exchange.

Drivers call :meth:`LineTransport.exchange` with a command and get the reply line(s);
they never touch a socket.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from director.errors import MeterConnectionError, MeterTimeoutError
from powerlog.run_record import ExchangeRecord

__all__ = ["Exchange", "LineTransport", "TcpLineTransport"]

Clock = Callable[[], int]
MAX_LINE_BYTES = 1 << 20


Exchange = ExchangeRecord  # one command and its reply, as kept for the session record (``ptd_messages``)


class LineTransport:
    """Line-oriented request/reply over a byte stream; subclasses provide the stream."""

    def __init__(self, name: str, timeout_s: float, clock: Clock = time.time_ns) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.clock = clock
        self.exchanges: list[Exchange] = []
        self.unrecorded: dict[str, int] = {}  # polling commands: how often each was sent
        self._buffer = b""

    # stream primitives -------------------------------------------------------------
    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _send(self, data: bytes, command: str) -> None:
        raise NotImplementedError

    def _recv(self, command: str, deadline: float) -> bytes:
        raise NotImplementedError

    # framing -----------------------------------------------------------------------
    def read_line(self, command: str, deadline: float | None = None) -> str:
        """The next line without its line end; waits until ``deadline`` (monotonic s)."""
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout_s
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if len(self._buffer) > MAX_LINE_BYTES:
                raise MeterConnectionError(
                    f"reply line longer than {MAX_LINE_BYTES} bytes without a line end",
                    meter=self.name,
                    command=command,
                )
            self._buffer += self._recv(command, deadline)

    def send_only(self, command: str) -> None:
        """A command that has no reply (an SCPI setting); logged with an empty reply."""
        if "\n" in command or "\r" in command:
            raise ValueError(f"command {command!r} contains a line end")
        sent_ns = self.clock()
        self._send(command.encode("utf-8") + b"\r\n", command)
        self.exchanges.append(Exchange(command, "", sent_ns, sent_ns))

    def exchange(
        self, command: str, extra_lines: Callable[[str], int] | None = None, record: bool = True
    ) -> tuple[str, list[str]]:
        """Send one command, read its reply line and, if ``extra_lines(first)`` says so, that many more.

        ``record=False`` keeps high-rate polling out of the exchange log (it is counted instead)."""
        if "\n" in command or "\r" in command:
            raise ValueError(f"command {command!r} contains a line end")
        sent_ns = self.clock()
        self._send(command.encode("utf-8") + b"\r\n", command)
        deadline = time.monotonic() + self.timeout_s
        first = self.read_line(command, deadline)
        more = extra_lines(first) if extra_lines else 0
        lines = [self.read_line(command, deadline) for _ in range(more)]
        if record:
            self.exchanges.append(Exchange(command, first, sent_ns, self.clock(), len(lines)))
        else:
            self.unrecorded[command] = self.unrecorded.get(command, 0) + 1
        return first, lines


class TcpLineTransport(LineTransport):
    """CRLF lines over TCP (PTDaemon's interface)."""

    def __init__(
        self, host: str, port: int, timeout_s: float = 10.0, connect_timeout_s: float = 5.0, clock: Clock = time.time_ns
    ) -> None:
        super().__init__(f"ptd://{host}:{port}", timeout_s, clock)
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except TimeoutError as e:
            raise MeterTimeoutError(f"no answer to connect within {self.connect_timeout_s} s", meter=self.name) from e
        except OSError as e:
            raise MeterConnectionError(f"cannot connect: {e.strerror or e}", meter=self.name) from e
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _socket(self, command: str) -> socket.socket:
        if self._sock is None:
            raise MeterConnectionError("not connected (call open() first)", meter=self.name, command=command)
        return self._sock

    def _send(self, data: bytes, command: str) -> None:
        sock = self._socket(command)
        try:
            sock.settimeout(self.timeout_s)
            sock.sendall(data)
        except TimeoutError as e:
            raise MeterTimeoutError("send timed out", meter=self.name, command=command) from e
        except OSError as e:
            self.close()
            raise MeterConnectionError(f"connection lost: {e.strerror or e}", meter=self.name, command=command) from e

    def _recv(self, command: str, deadline: float) -> bytes:
        sock = self._socket(command)
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            self.close()
            raise MeterTimeoutError(f"no complete reply within {self.timeout_s} s", meter=self.name, command=command)
        try:
            sock.settimeout(remaining_s)
            data = sock.recv(65536)
        except TimeoutError as e:
            # a late reply would answer the next command: the stream is out of step, so drop it
            self.close()
            raise MeterTimeoutError(
                f"no complete reply within {self.timeout_s} s", meter=self.name, command=command
            ) from e
        except OSError as e:
            self.close()
            raise MeterConnectionError(f"connection lost: {e.strerror or e}", meter=self.name, command=command) from e
        if not data:
            self.close()
            raise MeterConnectionError("connection closed by the meter", meter=self.name, command=command)
        return data
