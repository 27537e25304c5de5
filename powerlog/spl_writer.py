"""Writing spl.txt: one sample as a line in PTDaemon's format, and appending lines to a file so that a refused
write leaves only whole lines."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Iterable
from pathlib import Path

from powerlog.errors import PartialWriteError
from powerlog.spl_records import PowerSample
from powerlog.timestamps import format_ptd_timestamp

__all__ = ["WRITE_SPL_CHUNK", "SplWriter", "format_spl_line", "write_spl"]


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.6f}"


def format_spl_line(sample: PowerSample) -> str:
    """One spl.txt line (without line end), in PTDaemon's number format."""
    # a multichannel head carries what the sample says: -1 (older PTDaemon, PowerSample.multichannel)
    # or the channels' averages (PTDaemon 1.10+)
    head = (
        f"Watts,{_number(sample.power_w)},Volts,{_number(sample.volts_v)},"
        f"Amps,{_number(sample.amps_a)},PF,{_number(sample.pf)}"
    )
    line = f"Time,{format_ptd_timestamp(sample.t_utc_ns)},{head},Mark,{sample.mark}"
    for i, ch in enumerate(sample.channels, start=1):
        line += (
            f",Ch{i},Watts,{_number(ch.power_w)},Volts,{_number(ch.volts_v)},"
            f"Amps,{_number(ch.amps_a)},PF,{_number(ch.pf)}"
        )
    return line


WRITE_SPL_CHUNK = 10_000  # lines per write in write_spl: bounded memory for long logs


class SplWriter:
    """Appends samples to an spl.txt, one line each (CRLF, as PTDaemon writes them).

    Each :meth:`write` goes to the disk at once (no buffer), so after it returns the file holds every line it
    was given, and after a refused write (disk full) it holds exactly the lines that fitted: a torn last line is
    cut off and :class:`PartialWriteError` says how many lines were kept. The file is opened by :meth:`open`
    (or ``with``), never by the constructor.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def open(self) -> SplWriter:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def __enter__(self) -> SplWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, samples: Iterable[PowerSample]) -> int:
        """Append the samples' lines; how many were appended (all of them, or :class:`PartialWriteError`)."""
        if self._fd is None:
            raise RuntimeError("SplWriter.write before open()")
        lines = []
        for sample in samples:
            if sample.mark and ("," in sample.mark or "\n" in sample.mark):
                raise ValueError(f"mark {sample.mark!r} may not contain commas or line ends")
            lines.append(format_spl_line(sample) + "\r\n")
        data = "".join(lines).encode("utf-8")
        start = sent = 0
        try:
            start = os.lseek(self._fd, 0, os.SEEK_END)
            while sent < len(data):
                sent += os.write(self._fd, data[sent:])
        except OSError as e:
            whole = data.rfind(b"\r\n", 0, sent) + 2 if sent else 0
            if whole < sent:
                with contextlib.suppress(OSError):  # a torn line left behind is skipped by every reader
                    os.ftruncate(self._fd, start + whole)
            raise PartialWriteError(self.path, data.count(b"\r\n", 0, whole), e) from e
        return len(lines)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def write_spl(path: Path | str, samples: Iterable[PowerSample]) -> int:
    """Write samples to a new spl.txt; returns how many were written."""
    target = Path(path)
    if target.exists():
        target.unlink()
    written = 0
    with SplWriter(target) as writer:
        items = iter(samples)
        while chunk := list(itertools.islice(items, WRITE_SPL_CHUNK)):
            written += writer.write(chunk)
    return written
