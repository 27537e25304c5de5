"""A transport that replays a script, for testing a driver without its instrument.

A new driver's tests are a list of (command, reply lines) pairs taken from the instrument's manual or a
recorded session: :class:`ScriptedTransport` checks that the driver sends exactly those commands, in that
order and framed with CRLF, and hands each reply back one byte at a time, so the driver's framing must cope
with any fragmentation. Anything off script raises :class:`ScriptMismatch` naming the command.
"""

from __future__ import annotations

from collections.abc import Iterable

from director.meters.transport import LineTransport

__all__ = ["Script", "ScriptMismatch", "ScriptedTransport"]

Script = Iterable[tuple[str, list[str]]]


class ScriptMismatch(AssertionError):
    """The driver sent a command out of script, or read past a reply. An AssertionError, so a test fails on it."""


class ScriptedTransport(LineTransport):
    """Replays (command, reply lines) pairs and fails on any command out of script."""

    def __init__(self, script: Script, name: str = "scripted") -> None:
        super().__init__(name, timeout_s=1.0, clock=lambda: 0)
        self.script = list(script)
        self.lines: list[bytes] = []
        self.opened = False

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.opened = False

    @property
    def finished(self) -> bool:
        """Every scripted command was sent."""
        return not self.script

    def _send(self, data: bytes, command: str) -> None:
        if not self.script:
            raise ScriptMismatch(f"unexpected command {command!r}: script exhausted")
        expected, reply = self.script.pop(0)
        if command != expected:
            raise ScriptMismatch(f"sent {command!r} where the script expects {expected!r}")
        if data != command.encode() + b"\r\n":
            raise ScriptMismatch(f"{command!r} framed as {data!r}, not with CRLF")
        self.lines = [line.encode() + b"\r\n" for line in reply]

    def _recv(self, command: str, deadline: float) -> bytes:
        if not self.lines:
            raise ScriptMismatch(f"read past the scripted reply of {command!r}")
        head, self.lines[0] = self.lines[0][:1], self.lines[0][1:]
        if not self.lines[0]:
            self.lines.pop(0)
        return head
