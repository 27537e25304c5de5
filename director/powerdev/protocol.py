"""power-dev's client/server protocol, version 3, as pure functions: framing, files and commands.

What goes over the wire (plain TCP, written from power-dev's protocol description):

* **Lines.** One message per line. A sender ends each with CRLF; a receiver splits at LF and drops
  one trailing CR, so an LF-only peer is understood too.
* **Handshake.** The client's first line is ``mlcommons/power client v3``. The server always answers
  ``mlcommons/power server v3``, and closes the connection when the client's line was anything else.
* **Commands** (one reply line each, except ``download``):

  ============================================  ==========================================
  ``time``                                      the server's clock, seconds since the epoch
  ``set_ntp``                                   ``OK`` once the server synced its clock
  ``stop``                                      ``OK``; the server stops after this client
  ``new,<label>,<client uuid>``                 ``OK <session>,<server uuid>``
  ``session,<id>,start,ranging``                ``OK`` or ``Error``
  ``session,<id>,start,testing[,<V>,<A>]``      ``OK`` or ``Error``; V and A the testing ranges
  ``session,<id>,stop,ranging|testing``         ``OK`` or ``Error``
  ``session,<id>,done``                         ``OK``
  ``download,<id>,<file>``                      the file, as chunks (below); no reply line
  ``cleanup,<id>``                              ``OK``; the session's folder is removed
  ============================================  ==========================================

  ``<id>`` may be ``*`` in ``session`` commands (the current session). A label holds only
  ``A-Z a-z 0-9 - _``; the session id is ``YYYY-MM-DD_HH-MM-SS_<label>`` (the server's local time).
  Anything else gets ``Error`` and the connection stays open; a ``session`` command for another
  session ``Error: unknown session``; an unknown ``session`` sub-command
  ``Error Unknown session command``; a bad label ``Error: invalid label``.
* **Files.** A sequence of chunks, each a line with its length in bytes (decimal) followed by that
  many raw bytes, ending with a chunk of length ``0``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from director.errors import DirectorError

__all__ = [
    "DOWNLOADABLE_FILES",
    "MAGIC_CLIENT",
    "MAGIC_SERVER",
    "Cleanup",
    "Command",
    "CommandError",
    "Download",
    "FileReceiver",
    "LineSplitter",
    "LineTooLongError",
    "New",
    "SessionDone",
    "SessionStart",
    "SessionStop",
    "SetNtp",
    "Stop",
    "Time",
    "encode_file",
    "encode_line",
    "parse_command",
    "session_id",
]

PROTOCOL_VERSION = 3
MAGIC_CLIENT = f"mlcommons/power client v{PROTOCOL_VERSION}"
MAGIC_SERVER = f"mlcommons/power server v{PROTOCOL_VERSION}"
DOWNLOADABLE_FILES = (
    "power/ptd_logs.txt",
    "ranging/spl.txt",
    "power/server.json",
    "power/server.log",
    "run_1/spl.txt",
    "run_1/ptd_out.txt",
)
FILE_CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 * 1024  # no command is near this; a peer that sends more is not speaking the protocol
_LABEL = re.compile(r"[-_A-Za-z0-9]*")
PHASES = ("ranging", "testing")


class CommandError(DirectorError, ValueError):
    """A line that is no valid command; ``reply`` is the line the server answers with."""

    def __init__(self, reply: str, reason: str) -> None:
        super().__init__(reason)
        self.reply = reply


class LineTooLongError(DirectorError, ValueError):
    pass


@dataclass(frozen=True)
class Time:
    pass


@dataclass(frozen=True)
class SetNtp:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class New:
    label: str
    client_uuid: uuid.UUID


@dataclass(frozen=True)
class SessionStart:
    session: str  # an id, or "*" for the current session
    phase: str
    volts: str | None = None  # testing ranges as the client sent them (power-dev passes them on as text)
    amps: str | None = None


@dataclass(frozen=True)
class SessionStop:
    session: str
    phase: str


@dataclass(frozen=True)
class SessionDone:
    session: str


@dataclass(frozen=True)
class Download:
    session: str
    file: str


@dataclass(frozen=True)
class Cleanup:
    session: str


Command = Time | SetNtp | Stop | New | SessionStart | SessionStop | SessionDone | Download | Cleanup


def encode_line(text: str) -> bytes:
    if "\n" in text or "\r" in text:
        raise ValueError(f"a protocol line cannot hold a line break: {text!r}")
    return text.encode("utf-8") + b"\r\n"


class LineSplitter:
    """Bytes in, whole lines out (LF-terminated, one trailing CR dropped), however the bytes arrive."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_line_bytes

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines = []
        while (end := self._buffer.find(b"\n")) >= 0:
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            lines.append(raw.removesuffix(b"\r").decode("utf-8", "replace"))
        if len(self._buffer) > self._max:
            raise LineTooLongError(f"a line longer than {self._max} bytes: not power-dev's protocol")
        return lines

    def take_rest(self) -> bytes:
        """What came after the last whole line (the start of a file's chunk)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def encode_file(data: bytes, chunk_bytes: int = FILE_CHUNK_BYTES) -> Iterator[bytes]:
    """A file as the protocol sends it: length line, bytes, ..., then the ``0`` line."""
    for start in range(0, len(data), chunk_bytes):
        chunk = data[start : start + chunk_bytes]
        yield encode_line(str(len(chunk))) + chunk
    yield encode_line("0")


class FileReceiver:
    """Chunks in (as bytes arrive), the whole file out once the ``0`` chunk is read."""

    def __init__(self) -> None:
        self._lines = LineSplitter(max_line_bytes=32)
        self._pending = bytearray()
        self._need = 0  # bytes still to read of the current chunk
        self.data = bytearray()
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; returns what came after the file (the next reply lines), once done."""
        view = memoryview(data)
        while view and not self.done:
            if self._need:
                take = view[: self._need]
                self.data += take
                self._need -= len(take)
                view = view[len(take) :]
                continue
            end = bytes(view).find(b"\n")
            if end < 0:
                self._lines.feed(bytes(view))
                return b""
            (line,) = self._lines.feed(bytes(view[: end + 1]))
            view = view[end + 1 :]
            if not line.isdigit():
                raise ValueError(f"expected a chunk length, got {line[:40]!r}")
            self._need = int(line)
            self.done = self._need == 0
        return bytes(view)


def _phase(word: str, line: str) -> str:
    if word not in PHASES:
        raise CommandError("Error Unknown session command", f"no phase {word!r} in {line!r}")
    return word


def parse_command(line: str) -> Command:
    """The command a line holds; :class:`CommandError` (with the reply to send) when it holds none."""
    words = line.split(",")
    head = words[0]
    if head == "time" and len(words) == 1:
        return Time()
    if head == "set_ntp" and len(words) == 1:
        return SetNtp()
    if head == "stop" and len(words) == 1:
        return Stop()
    if head == "new" and len(words) == 3:
        if not _LABEL.fullmatch(words[1]):
            raise CommandError("Error: invalid label", f"label {words[1]!r}: only A-Z a-z 0-9 - _")
        try:
            client = uuid.UUID(words[2])
        except ValueError as e:
            raise CommandError("Error: exception", f"client uuid {words[2]!r}: {e}") from e
        return New(words[1], client)
    if head == "session" and len(words) >= 3:
        session, rest = words[1], words[2:]
        if rest[0] == "start" and len(rest) in (2, 4):
            phase = _phase(rest[1], line)
            if len(rest) == 4 and phase == "testing":
                return SessionStart(session, phase, rest[2], rest[3])
            if len(rest) == 2:
                return SessionStart(session, phase)
        if rest[0] == "stop" and len(rest) == 2:
            return SessionStop(session, _phase(rest[1], line))
        if rest == ["done"]:
            return SessionDone(session)
        raise CommandError("Error Unknown session command", f"no session command {','.join(rest)!r}")
    if head == "download" and len(words) == 3:
        if words[2] not in DOWNLOADABLE_FILES:
            raise CommandError("Error", f"{words[2]!r} is not a file a client may download")
        return Download(words[1], words[2])
    if head == "cleanup" and len(words) == 2:
        return Cleanup(words[1])
    raise CommandError("Error", f"no such command: {line[:80]!r}")


def session_id(label: str, local_time: datetime) -> str:
    """The id power-dev's server gives a new session: its local start time, then the label."""
    stamp = local_time.strftime("%Y-%m-%d_%H-%M-%S")
    return f"{stamp}_{label}" if label else stamp
