"""What the line-oriented readers share: the record of a line that could not be used."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["MAX_QUOTED_CHARS", "BadLine", "decode_line", "text_lines"]

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


def text_lines(data: bytes | str, path: str) -> Iterator[tuple[int, str | BadLine]]:
    """Each non-blank line of a file's content with its 1-based number: its text (CR LF or LF ends removed), or a
    BadLine where it is not UTF-8."""
    raw_lines = (data if isinstance(data, bytes) else data.encode("utf-8")).split(b"\n")
    for line_number, raw_line in enumerate(raw_lines, start=1):
        raw = raw_line.rstrip(b"\r")
        if raw.strip():
            yield line_number, decode_line(raw, path, line_number)
