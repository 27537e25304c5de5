"""Exceptions raised by powerlog.

::

    PowerlogError                 base of everything this package raises
    ├── TimestampError            a timestamp string is not MM-DD-YYYY HH:MM:SS.mmm
    ├── IdentifyError             the text is not PTDaemon's Identify reply (powerlog.ptd_identity)
    ├── PartialWriteError         the disk refused part of an append; says how many records reached it
    ├── OutputPathError           an output named where no regular file can be written (also an OSError)
    ├── JsonDepthError            JSON nested deeper than Python's reader follows (also a ValueError)
    ├── BatchDecodeError          a SUT sample batch that is not one (powerlog.wire_codec; also a ValueError)
    └── FormatError               a file cannot be read as the format it claims to be
        └── MissingFileError      a required file does not exist

Every ``FormatError`` names the file (and the line, when one is at fault), so a
person can open it and see what is wrong.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FormatError",
    "JsonDepthError",
    "MissingFileError",
    "OutputPathError",
    "PartialWriteError",
    "PowerlogError",
    "TimestampError",
]


class PowerlogError(Exception):
    """Base class for powerlog errors."""


class TimestampError(PowerlogError, ValueError):
    """A timestamp does not follow ``MM-DD-YYYY HH:MM:SS.mmm``."""


class PartialWriteError(PowerlogError, OSError):
    """An append the disk refused part way: ``written`` records reached the file whole, the rest none of.

    The ``OSError`` the system raised is the cause; ``errno`` and ``strerror`` are its.
    """

    def __init__(self, path: Path | str, written: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path = Path(path)
        self.written = written


class JsonDepthError(PowerlogError, ValueError):
    """JSON nested so deeply (``[[[[...``) that Python's reader gives up: malformed input, not a crash."""


class OutputPathError(PowerlogError, OSError):
    """An output path mlpower will not write to: its folder is missing, or it is something other than a
    regular file (a device node, a folder, a FIFO, a link to one). The message says which and what to do.
    An OSError, as the failed write it stands for, so that a caller handling write errors handles it too."""


class FormatError(PowerlogError):
    """A file does not follow the format it should."""

    def __init__(self, path: Path | str, message: str, line_number: int | None = None) -> None:
        self.path = Path(path)
        self.line_number = line_number
        self.reason = message
        where = f"{self.path}:{line_number}" if line_number is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class MissingFileError(FormatError):
    """A file that the format requires is absent."""

    def __init__(self, path: Path | str, what: str = "required file") -> None:
        super().__init__(path, f"{what} not found")
