"""What the line-oriented readers share: the record of a line that could not be used."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_QUOTED_CHARS", "BadLine", "decode_line"]

MAX_QUOTED_CHARS = 200


@dataclass(frozen=True)
class BadLine:
    """A line of a log file that could not be used, and why."""

    path: str
    line_number: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_number}: {self.reason}"


def decode_line(raw: bytes, path: str, line_number: int) -> str | BadLine:
    """The line as text, or a BadLine saying which byte is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        reason = f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
        return BadLine(path, line_number, reason, raw[:MAX_QUOTED_CHARS].decode("utf-8", "replace"))
