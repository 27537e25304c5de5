"""GPU power limits set for a measurement and always put back: a journal of the originals, a guard, a restore.

:class:`LimitGuard` records every selected GPU's original limit (by UUID, with the host, the process and the
time) in a :class:`PowerLimitJournal` BEFORE it changes anything, then applies the setting; on the way out
(normal, an exception, or SIGINT/SIGTERM/SIGHUP, which :func:`agent.signals.forwarded_signals` turns into an
exception) it puts the originals back and removes the journal. A SIGKILL or a power cut cannot be caught: the
journal is then left behind, and :func:`restore_pending` (which the guard also runs first) puts those limits
back at the next start and says what it did. A requested limit is checked against every GPU's range before
any GPU is touched. The journal's default place is ``<out>/power_limits.journal.json`` (:func:`journal_path`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from agent.gpu.base import GpuInfo, GpuSource
from agent.gpu.errors import GpuError, GpuLimitError, LimitJournalError
from agent.gpu.sim_limit_model import write_json_atomic
from agent.signals import forwarded_signals, held_signals

__all__ = [
    "JOURNAL_FORMAT",
    "JOURNAL_NAME",
    "JournalEntry",
    "LimitGuard",
    "PowerLimitJournal",
    "describe_limit",
    "journal_path",
    "restore_pending",
]

JOURNAL_NAME = "power_limits.journal.json"
JOURNAL_FORMAT = "mlpower power-limit journal"
_TOLERANCE_W = 0.5  # NVML keeps limits in mW; a limit this close to the original is the original


def journal_path(out_dir: Path) -> Path:
    """The journal's default place, in a sweep's ``--out`` folder."""
    return out_dir / JOURNAL_NAME


def describe_limit(gpus: GpuSource, index: int) -> str:
    """An open GPU's power limit and range for people (``300 W (range 200-700 W)``); what NVML could not say: n/a."""
    try:
        limit = f"{gpus.power_limit_w(index):g} W"
    except GpuError:
        return "n/a"
    try:
        low_w, high_w = gpus.power_limit_range_w(index)
    except GpuError:
        return f"{limit} (range n/a)"
    return f"{limit} (range {low_w:g}-{high_w:g} W)"


@dataclass(frozen=True)
class JournalEntry:
    """One GPU's limit before a change."""

    uuid: str
    index: int
    original_w: float
    requested_w: float


@dataclass(frozen=True)
class _Journal:
    host: str
    pid: int
    t_utc_ns: int
    entries: tuple[JournalEntry, ...]


class PowerLimitJournal:
    """The file that holds the original limits while they are changed (written atomically, synced)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def write(self, entries: Sequence[JournalEntry], host: str, t_utc_ns: int) -> None:
        data = {
            "format": JOURNAL_FORMAT,
            "version": 1,
            "host": host,
            "pid": os.getpid(),
            "t_utc_ns": t_utc_ns,
            "gpus": [
                {"uuid": e.uuid, "index": e.index, "original_w": e.original_w, "requested_w": e.requested_w}
                for e in entries
            ],
        }
        write_json_atomic(self.path, data)

    def read(self) -> _Journal:
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != JOURNAL_FORMAT:
                raise ValueError(f"not a {JOURNAL_FORMAT}")
            entries = tuple(
                JournalEntry(str(g["uuid"]), int(g["index"]), float(g["original_w"]), float(g["requested_w"]))
                for g in data["gpus"]
            )
            return _Journal(str(data["host"]), int(data["pid"]), int(data["t_utc_ns"]), entries)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LimitJournalError(
                f"{self.path}: cannot read the power-limit journal ({e}); the GPUs' original limits it held are "
                "unknown: set them back by hand (nvidia-smi -pl) and delete the file"
            ) from e

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _as_journal(journal: PowerLimitJournal | Path) -> PowerLimitJournal:
    return journal if isinstance(journal, PowerLimitJournal) else PowerLimitJournal(journal)


@contextmanager
def _opened(gpus: GpuSource, infos: Sequence[GpuInfo] | None) -> Iterator[Sequence[GpuInfo]]:
    """The GPUs' descriptions: ``infos`` for a source the caller opened, else the source opened here and closed."""
    if infos is not None:
        yield infos
        return
    opened = gpus.open()
    try:
        yield opened
    finally:
        gpus.close()


def restore_pending(
    journal_path: Path | PowerLimitJournal, gpus: GpuSource, infos: Sequence[GpuInfo] | None = None
) -> list[str]:
    """Put back the limits a run that could not clean up (SIGKILL, a crash) left changed, from its journal; what
    was restored, one line a GPU (nothing: no journal). The journal is removed once every GPU it names is back;
    a GPU missing here keeps it, and says so."""
    journal = _as_journal(journal_path)
    if not journal.exists():
        return []
    record = journal.read()
    host = socket.gethostname()
    if record.host != host:
        raise LimitJournalError(
            f"{journal.path}: written on host {record.host!r}, this is {host!r}: restore its limits there, "
            "or delete the file"
        )
    said = [f"power-limit journal {journal.path} left by process {record.pid} (started {record.t_utc_ns} ns UTC)"]
    with _opened(gpus, infos) as described:
        by_uuid = {g.uuid: g.index for g in described}
        missing = []
        for entry in record.entries:
            index = by_uuid.get(entry.uuid)
            if index is None:
                missing.append(entry.uuid)
                said.append(
                    f"GPU {entry.uuid}: not among the selected GPUs; its limit {entry.original_w:g} W is not restored"
                )
                continue
            now_w = gpus.power_limit_w(index)
            if abs(now_w - entry.original_w) <= _TOLERANCE_W:
                said.append(f"GPU {index} ({entry.uuid}): power limit already at its original {entry.original_w:g} W")
            else:
                gpus.set_power_limit_w(index, entry.original_w)
                said.append(
                    f"GPU {index} ({entry.uuid}): power limit restored from {now_w:g} W to {entry.original_w:g} W"
                )
    if not missing:
        journal.remove()
    return said


class LimitGuard:
    """``with LimitGuard(gpus, 300.0, out / JOURNAL_NAME):`` every selected GPU at 300 W inside, its original
    limit outside, whatever ends the block. ``limit_w`` is one limit for all, or one per GPU index. ``infos``:
    the descriptions of a source the caller has opened (else the guard opens and closes ``gpus`` itself).
    ``note`` hears what was restored from an earlier run's journal and what was set."""

    def __init__(
        self,
        gpus: GpuSource,
        limit_w: float | Mapping[int, float],
        journal: PowerLimitJournal | Path,
        *,
        infos: Sequence[GpuInfo] | None = None,
        note: Callable[[str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.gpus = gpus
        self.limit_w = limit_w
        self.journal = _as_journal(journal)
        self._infos = infos
        self._note = note or (lambda _line: None)
        self._clock_ns = clock_ns
        self._stack = ExitStack()
        self.entries: list[JournalEntry] = []
        self._applied: list[JournalEntry] = []  # the GPUs set so far: what a restore puts back

    def _requested(self, info: GpuInfo) -> float:
        if isinstance(self.limit_w, Mapping):
            if info.index not in self.limit_w:
                raise GpuLimitError(info.index, f"no power limit given for it (given: {sorted(self.limit_w)})")
            return float(self.limit_w[info.index])
        return float(self.limit_w)

    def _check(self, described: Sequence[GpuInfo]) -> list[JournalEntry]:
        """Every GPU's requested limit inside its range (else an error naming the GPU and the range), with its
        original limit; nothing is changed."""
        entries = []
        for info in described:
            requested_w = self._requested(info)
            low_w, high_w = self.gpus.power_limit_range_w(info.index)
            if not low_w <= requested_w <= high_w:
                raise GpuLimitError(
                    info.index,
                    f"{info.name} ({info.uuid}): power limit {requested_w:g} W is outside its range "
                    f"{low_w:g}-{high_w:g} W; nothing was changed",
                    (low_w, high_w),
                )
            entries.append(JournalEntry(info.uuid, info.index, self.gpus.power_limit_w(info.index), requested_w))
        return entries

    def __enter__(self) -> LimitGuard:
        with ExitStack() as stack:
            stack.enter_context(forwarded_signals())
            described = stack.enter_context(_opened(self.gpus, self._infos))
            for line in restore_pending(self.journal, self.gpus, described):
                self._note(line)
            self.entries = self._check(described)
            try:
                with held_signals():  # the journal and the limits it covers: not cut in between
                    self.journal.write(self.entries, socket.gethostname(), self._clock_ns())
                    for e in self.entries:
                        self.gpus.set_power_limit_w(e.index, e.requested_w)
                        self._applied.append(e)
                        self._note(f"GPU {e.index} ({e.uuid}): power limit {e.original_w:g} W -> {e.requested_w:g} W")
            except BaseException:  # a GPU that refused, or a signal held until the limits were set
                self._roll_back()
                raise
            self._stack = stack.pop_all()
        return self

    def _roll_back(self) -> None:
        """:meth:`_restore` with an error in flight: that error goes first (the journal stays where this fails)."""
        with suppress(GpuError):
            self._restore()

    def _restore(self) -> None:
        """Every GPU back at its original limit, then the journal removed; the first failure is raised after
        every GPU was tried, and keeps the journal for the next start."""
        failed: GpuError | None = None
        for e in self._applied:
            try:
                self.gpus.set_power_limit_w(e.index, e.original_w)
            except GpuError as error:
                self._note(f"GPU {e.index} ({e.uuid}): could not restore its {e.original_w:g} W limit: {error}")
                failed = failed or error
        if failed is not None:
            raise failed
        self._applied = []
        self.journal.remove()
        self._note("power limits restored")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            with held_signals():  # a signal meanwhile is raised once every GPU is back
                if kind is None:
                    self._restore()
                else:
                    self._roll_back()
        finally:
            self._stack.close()
