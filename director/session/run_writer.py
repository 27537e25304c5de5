"""The run folder of a session: its layout, the wall samples, uploads, journals and records.

Everything a session writes goes through here, flushed as it comes: a crash loses at most the last
read interval. A write the disk refuses is a :class:`StorageError` naming the file and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import resource
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from director.errors import StorageError
from powerlog.cli_support import dump_json
from powerlog.errors import PartialWriteError
from powerlog.layout import IDLE_DIR, PHASE_DIRS, SESSION_PHASE_DIRS
from powerlog.lines import BadLine
from powerlog.ptdlog import session_part
from powerlog.run_record import SessionJson, write_session_json
from powerlog.spl import PowerLog, PowerSample, SplWriter, read_spl
from powerlog.sut_samples import SAMPLES_DIR, read_journal, write_parquet

__all__ = ["HASHED_FILES", "HELD_JOURNALS", "RunWriter", "SplFiles", "finish_sample_journals", "ptd_out_text"]

HASHED_FILES = ("power/ptd_logs.txt", "power/server.log", "ranging/spl.txt", "run_1/spl.txt")
PROBE_BYTES = 4096


class _HeldJournals:
    """How many SUT journals this process's writers hold open, against half its descriptor limit (the rest is for
    sockets, meters and logs): past it a journal is opened for each line, as a slower but equal way to write it."""

    def __init__(self) -> None:
        self.held = 0
        self.limit: int | None = None  # read at the first journal: after ``serve`` has raised the soft limit

    def take(self) -> bool:
        if self.limit is None:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            self.limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft // 2
        if self.held >= self.limit:
            return False
        self.held += 1
        return True

    def give_back(self, count: int) -> None:
        self.held = max(0, self.held - count)


HELD_JOURNALS = _HeldJournals()
# new journals are created here, not in the event loop's default executor, where meter calls (a BMC that does not
# answer holds a thread up to its timeout) could keep the batches waiting
_JOURNAL_OPENER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-opener")


class SplFiles:
    """One meter's samples, a phase's ``spl.txt`` under ``folder`` (``ranging/``, ``run_1/``), flushed as they come:
    the session's meter writes the run folder's own, a wall meter beside it (another node's) its own folder's."""

    def __init__(self, folder: Path, log: logging.Logger, rel_dir: str = "") -> None:
        self.folder = folder
        self.log = log
        self.rel_dir = rel_dir  # the folder relative to the run folder, for messages ("" for the run folder)
        self._spl: SplWriter | None = None

    def _rel(self, phase: str) -> str:
        return f"{SESSION_PHASE_DIRS[phase]}/spl.txt"

    def open_samples(self, phase: str) -> None:
        (self.folder / SESSION_PHASE_DIRS[phase]).mkdir(parents=True, exist_ok=True)
        self._spl = SplWriter(self.folder / self._rel(phase)).open()

    def write_samples(self, phase: str, samples: list[PowerSample]) -> int:
        """Append to the phase's ``spl.txt`` and flush; the number of samples written (0 with no file open)."""
        if self._spl is None or not samples:
            return 0
        try:
            return self._spl.write(samples)
        except PartialWriteError as e:
            raise StorageError(
                f"cannot write {self.rel_dir}{self._rel(phase)}: {e.strerror}; {e.written} of {len(samples)} "
                "samples of the last read were kept",
                samples_written=e.written,
            ) from e

    def close_samples(self) -> None:
        """Close the phase's ``spl.txt``; what the disk took is kept, a refused last write is not an error."""
        if self._spl is not None:
            spl, self._spl = self._spl, None
            try:
                spl.close()
            except OSError as e:
                self.log.error("cannot finish %s%s: %s", self.rel_dir, spl.path.name, e.strerror or e)


class RunWriter:
    """Writes one run folder; ``create`` makes it (nothing is touched before)."""

    def __init__(self, folder: Path, log: logging.Logger, ptd_log: Path | None, min_free_bytes: int) -> None:
        self.folder = folder
        self.log = log
        self.ptd_log = ptd_log
        self.min_free_bytes = min_free_bytes
        self._ptd_log_offset = 0  # bytes of PTDaemon's log written before this session
        self._idle_ptd_span: list[int] = []  # PTDaemon's log from the idle phase's start to its stop (bytes)
        self.spl_files = SplFiles(folder, log)
        self._log_handler: logging.Handler | None = None
        self.progress_pending = False  # the last session.json write failed (disk full): it is out of date
        self._journals: dict[str, int] = {}  # per SUT source, its open journal
        self._journals_closed = False  # since close_journals: journals opened ahead are not kept

    def create(self) -> None:
        """The folder and its sub-folders, ``power/server.log`` taking the session's log, and where this
        session's part of PTDaemon's log starts (it runs on; earlier sessions and probes are not ours)."""
        for sub in ("power", *PHASE_DIRS.values()):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.folder / "power" / "server.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("director %(asctime)s [%(levelname)s] %(message)s"))
        self.log.addHandler(handler)
        self.log.setLevel(logging.INFO)
        self._log_handler = handler
        ptd_log = self.ptd_log
        self._ptd_log_offset = ptd_log.stat().st_size if ptd_log is not None and ptd_log.is_file() else 0

    def check_storage(self, phase: str) -> None:
        """Before a phase: the phase's folder takes a write and has room for it, or a clear error now."""
        folder = self.folder / SESSION_PHASE_DIRS[phase]
        try:
            folder.mkdir(exist_ok=True)  # idle/ is made only for a session that has the phase
            free_bytes = shutil.disk_usage(folder).free
            probe = folder / ".mlpower-write-probe"
            probe.write_bytes(b"x" * PROBE_BYTES)
            probe.unlink()
        except OSError as e:
            raise StorageError(f"cannot write in {folder}: {e.strerror or e}; free space or fix permissions") from e
        if free_bytes < self.min_free_bytes:
            raise StorageError(
                f"only {free_bytes / 1e6:.1f} MB free in {folder} (at least {self.min_free_bytes / 1e6:.0f} MB "
                "are needed for a phase): free some space and start again"
            )

    # SUT data and uploads -----------------------------------------------------------------
    def append_journal(self, source: str, line: bytes) -> None:
        """One SUT batch, as a JSON line of ``samples/<source>.jsonl``, written at once (no buffer) with one
        ``write``: each journal stays open until :meth:`close_journals`, which every end of a session calls.

        The event loop writes the journals, and every system call lets the director's other threads (a meter
        poller each) take the GIL, which the loop then waits for: opening, seeking and closing at each batch as
        well made a 72-node rack's POSTs wait 6 to 25 ms per call behind them (bench_rack, 2 cores). A line the
        disk takes only part of is cut off again: the journal ends with its last whole line."""
        rel = f"{SAMPLES_DIR}/{source}.jsonl"
        data = line + b"\n"
        fd = self._journals.get(source)
        if fd is not None:
            self._write_line(fd, rel, data)
        elif HELD_JOURNALS.take():
            try:
                fd = self._journals[source] = self._open_journal(rel)
            except StorageError:
                HELD_JOURNALS.give_back(1)
                raise
            self._write_line(fd, rel, data)
        else:  # this process holds as many open as it may: this line is written as before, opened and closed
            fd = self._open_journal(rel)
            try:
                self._write_line(fd, rel, data)
            finally:
                os.close(fd)

    @staticmethod
    def _write_line(fd: int, rel: str, data: bytes) -> None:
        sent = 0
        try:
            while sent < len(data):
                sent += os.write(fd, data[sent:])
        except OSError as e:
            if sent:  # O_APPEND and one writer per journal: the line began ``sent`` bytes before the end
                with contextlib.suppress(OSError):  # cutting frees space: this works on a full disk
                    os.ftruncate(fd, os.fstat(fd).st_size - sent)
            raise StorageError(f"cannot write {rel}: {e.strerror or e}") from e

    async def open_journals(self, sources: set[str]) -> None:
        """Open, off the event loop, the journals of sources that have none yet (a batch's first). Creating a file
        is a change to the file system's own journal and can wait for its commit: 72 nodes' 576 GPU journals
        created on the event loop held it for over half a second at a rack session's start (bench_rack). A
        :class:`StorageError` if one cannot be created (the ones opened are closed again)."""
        new = sorted(source for source in sources if source not in self._journals)
        if not new:
            return
        opened = await asyncio.get_running_loop().run_in_executor(_JOURNAL_OPENER, self._open_each, new)
        for source, fd in opened.items():  # on the loop again: a batch may have opened one meanwhile
            if self._journals_closed or source in self._journals or not HELD_JOURNALS.take():
                os.close(fd)
            else:
                self._journals[source] = fd

    def _open_each(self, sources: list[str]) -> dict[str, int]:
        opened: dict[str, int] = {}
        try:
            for source in sources:
                opened[source] = self._open_journal(f"{SAMPLES_DIR}/{source}.jsonl")
        except StorageError:
            for fd in opened.values():
                os.close(fd)
            raise
        return opened

    def _open_journal(self, rel: str) -> int:
        path, flags = self.folder / rel, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        try:
            try:
                return os.open(path, flags, 0o644)
            except FileNotFoundError:  # the first batch: the folder is made then
                path.parent.mkdir(exist_ok=True)
                return os.open(path, flags, 0o644)
        except OSError as e:
            raise StorageError(f"cannot write {rel}: {e.strerror or e}") from e

    def close_journals(self) -> None:
        """Close the journals (a later batch would open its journal again); the lines are on disk already."""
        journals, self._journals = self._journals, {}
        self._journals_closed = True
        HELD_JOURNALS.give_back(len(journals))
        for fd in journals.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def write_upload(self, folder: str, name: str, data: bytes) -> None:
        try:
            (self.folder / folder / name).write_bytes(data)
        except OSError as e:
            raise StorageError(f"cannot write {folder}/{name}: {e.strerror or e}") from e
        self.log.info("upload %s/%s: %d bytes", folder, name, len(data))

    # records ------------------------------------------------------------------------------
    def write_progress(self, record: SessionJson) -> bool:
        """session.json as it stands, replaced atomically: after a crash, the restarted director finds what the
        session was doing. A full disk must not stop the measurement (the samples matter more): logged, and
        ``progress_pending`` stays set until a later write succeeds. False when the write failed."""
        if not self.folder.is_dir():
            return True
        target = self.folder / "session.json"
        try:
            write_session_json(target, record)
        except OSError as e:
            if not self.progress_pending:
                self.log.error("cannot write %s: %s", target, e.strerror or e)
            self.progress_pending = True
            return False
        self.progress_pending = False
        return True

    def finish(self) -> dict[str, str]:
        """At the end: this session's part of PTDaemon's log, the log closed, the SUT journals as Parquet;
        the SHA-1 of each file server.json lists."""
        self.close_journals()  # first: a full disk failing what follows must not keep them open
        power = self.folder / "power"
        if self.ptd_log is not None and self.ptd_log.is_file():
            data = self._idle_ptd_log_apart(self.ptd_log.read_bytes())
            (power / "ptd_logs.txt").write_bytes(session_part(data, self._ptd_log_offset))
        else:  # no PTDaemon log (an analyzer read directly, or none given): say so with an empty, recorded file,
            (power / "ptd_logs.txt").touch()  # which is what power-dev's client downloads in any case
        if self._log_handler is not None:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        for line in finish_sample_journals(self.folder):
            self.log.warning("samples: %s", line)
        self._write_ptd_out()
        return {rel: _sha1(self.folder / rel) for rel in HASHED_FILES if (self.folder / rel).is_file()}

    def _write_ptd_out(self) -> None:
        """run_1/ptd_out.txt, the testing phase's power summary per analyzer, where power-dev's server puts it."""
        spl = self.folder / "run_1" / "spl.txt"
        if not spl.is_file():
            return
        try:
            text = ptd_out_text(read_spl(spl, marks=False))
        except (OSError, ValueError) as e:
            self.log.warning("run_1/ptd_out.txt not written: %s", e)
            return
        (self.folder / "run_1" / "ptd_out.txt").write_text(text)

    def _ptd_log_size(self) -> int:
        ptd_log = self.ptd_log
        return ptd_log.stat().st_size if ptd_log is not None and ptd_log.is_file() else 0

    def idle_ptd_log_begins(self) -> None:
        self._idle_ptd_span = [self._ptd_log_size()]

    def idle_ptd_log_ends(self) -> None:
        if len(self._idle_ptd_span) == 1:
            self._idle_ptd_span.append(self._ptd_log_size())

    def _idle_ptd_log_apart(self, data: bytes) -> bytes:
        """PTDaemon's log without the idle phase's lines, which go to ``idle/ptd_logs.txt``: the official checker
        reads power/ptd_logs.txt as a session of ranging and testing alone (an Auto-range error it accepts in
        ranging fails it anywhere else). Cut at line starts; an idle phase that never stopped runs to the end."""
        if not self._idle_ptd_span or self._idle_ptd_span[0] >= len(data):
            return data
        begin = data.rfind(b"\n", 0, self._idle_ptd_span[0]) + 1
        end = self._idle_ptd_span[1] if len(self._idle_ptd_span) > 1 else len(data)
        end = data.rfind(b"\n", 0, min(end, len(data))) + 1 if end < len(data) else len(data)
        end = max(begin, end)
        (self.folder / IDLE_DIR).mkdir(exist_ok=True)
        (self.folder / IDLE_DIR / "ptd_logs.txt").write_bytes(data[begin:end])
        return data[:begin] + data[end:]

    def write_json(self, rel: str, obj: object) -> None:
        (self.folder / rel).write_text(dump_json(obj) + "\n")


def finish_sample_journals(folder: Path) -> list[BadLine]:
    """Turn each SUT sample journal into Parquet, its times as the SUT wrote them (the analyzer places them with
    the session's clock map); the unusable lines."""
    bad_lines: list[BadLine] = []
    for journal in sorted((folder / SAMPLES_DIR).glob("*.jsonl")):
        columns, bad = read_journal(journal)
        bad_lines += bad
        write_parquet(journal.with_suffix(".parquet"), columns)
    return bad_lines


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def ptd_out_text(testing: PowerLog) -> str:
    """power-dev's ``run_1/ptd_out.txt`` for the testing samples: per analyzer, ``Power:`` in the shape of
    PTDaemon's ``Watts`` reply (average, min, max, samples, errors, valid; here computed from the samples
    logged, none counted as errors) and ``Uncertainty:``, which mlpower does not ask the analyzer for."""
    blocks = []
    for number, analyzer in enumerate(testing.analyzer_views(), start=1):
        watts = analyzer.total.power_w
        if len(watts):
            power = f"Watts,{watts.mean():.6f},{watts.min():.6f},{watts.max():.6f},{len(watts)},0,{len(watts)}"
        else:
            power = "Watts,0.000000,0.000000,0.000000,0,0,0"
        uncertainty = "not asked (mlpower computed Power from run_1/spl.txt)"
        blocks.append(f"Analyzer {number}:\nPower: {power} \nUncertainty: {uncertainty}\n")
    return "".join(blocks)
