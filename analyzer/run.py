"""Reading a result folder: every file parsed once, every problem kept as a finding.

This is the analyzer's only I/O. Everything downstream (metrics, report, checks)
is a pure function of the :class:`RunData` built here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from analyzer.components import ComponentSeries
from analyzer.errors import UnreadableRunError
from analyzer.findings import Evidence, Finding, Severity
from analyzer.gpu import GpuSeries, describe_gpus
from analyzer.idle import IdleData, load_idle
from analyzer.line_merge import OwnTimes, analyzer_own_times
from analyzer.metrics import WindowStats, window_stats
from analyzer.nameplate import DesignPower, find_design_power
from analyzer.system_run import SystemWall, system_wall
from powerlog.calibration_record import CALIBRATION_FILE, CalibrationRecord, parse_calibration_json
from powerlog.clock_map import SutClockMap
from powerlog.components import parse_component_source
from powerlog.errors import FormatError, MissingFileError
from powerlog.json_record import loads_json
from powerlog.layout import PHASE_DIRS, RANGING, TESTING, RunFolder
from powerlog.lines import BadLine
from powerlog.llm_queries import QUERY_LOG_NAME, LlmQueryLog, read_llm_queries
from powerlog.mllog import DetailLog, SummaryLog, read_detail_log, read_summary_log
from powerlog.ptdlog import PtdLog, read_ptd_log
from powerlog.run_record import ClockEntry, SessionJson, parse_session_json
from powerlog.session_record import SessionRecord, parse_session_record
from powerlog.spl import PowerLog, read_spl
from powerlog.sut_samples import Columns, read_sample_folder
from powerlog.system_record import SYSTEM_FILE, SystemRecord, parse_system_json
from powerlog.wire import MAX_CLOCK_OFFSET_NS, UTC_NS_MAX

__all__ = ["LOAD_RULE", "NODES_DIR", "NodeData", "PhaseClock", "PhaseData", "RunData", "find_run_root", "load_run"]

LOAD_RULE = "0.readable"
NODES_DIR = "nodes"  # nodes/<node>/samples/: each node agent's readings
MAX_EVIDENCE = 10
_NTP_OFFSET = re.compile(r"NTP:offset = (?P<offset>-?\d+(?:\.\d+)?) s")
T = TypeVar("T")
_UNREADABLE = object()  # what _Loader.json gives for a file that is not JSON


@dataclass(frozen=True)
class PhaseClock:
    """Director clock minus SUT clock over a phase, as the session's :class:`SutClockMap` places it."""

    offset_ns: int  # at the middle of LoadGen's window (of the phase's measurements when there is no window)
    change_ns: int  # after minus before: drift, or a step of the SUT clock
    measurements: int
    measurement_bound_ns: int  # the larger error bound of the two measurements alone
    bound_ns: int  # the map's bound over LoadGen's window (steady SUT clock rate between measurements)


def _clock_problem(entry: ClockEntry) -> str | None:
    """What makes a clock measurement in session.json one no agent sends (the director refuses it as well)."""
    if abs(entry.offset_ns) > MAX_CLOCK_OFFSET_NS:
        return f"offset_ns {entry.offset_ns} is beyond +-{MAX_CLOCK_OFFSET_NS} (a day)"
    for name, value in (("bound_ns", entry.bound_ns), ("delay_ns", entry.delay_ns)):
        if not 0 <= value <= MAX_CLOCK_OFFSET_NS:
            return f"{name} {value} is outside 0 .. {MAX_CLOCK_OFFSET_NS} (a day)"
    if not 0 <= entry.agent_utc_ns < UTC_NS_MAX:
        return f"agent_utc_ns {entry.agent_utc_ns} is no UTC time before 2100-01-01"
    return None


@dataclass(frozen=True)
class PhaseData:
    """One mode's files. ``window_utc_ns`` is LoadGen's window on the SUT clock; ``stats`` use the
    window mapped onto the meter's clock when a clock offset is known (else the same window), and
    ``raw_stats`` the window as LoadGen wrote it."""

    phase: str
    spl: PowerLog | None
    detail: DetailLog | None
    summary: SummaryLog | None
    window_utc_ns: tuple[int, int] | None
    stats: WindowStats | None
    clock: PhaseClock | None = None
    raw_stats: WindowStats | None = None
    clock_map: SutClockMap | None = None  # the session's; None when no offset was measured
    # a spl.txt merged from several analyzers (power-dev's line-index merge): each analyzer's own Time per sample,
    # or why they do not read; None for one analyzer
    analyzer_times: OwnTimes | str | None = None
    llm_queries: LlmQueryLog | None = None  # the built-in LLM benchmark's per-query token times (powerlog.llm_queries)

    @property
    def meter_window_utc_ns(self) -> tuple[int, int] | None:
        """LoadGen's window on the meter's (director's) clock."""
        if self.window_utc_ns is None or self.clock_map is None:
            return self.window_utc_ns
        return self.clock_map.to_director_ns(self.window_utc_ns[0]), self.clock_map.to_director_ns(
            self.window_utc_ns[1]
        )


@dataclass(frozen=True)
class NodeData:
    """A node agent's readings (``nodes/<node>/samples/``), placed on the director's clock by its own
    measurements (session.json ``nodes.<node>.clock``), never by the LoadGen node's."""

    name: str
    gpus: tuple[GpuSeries, ...] = ()
    components: tuple[ComponentSeries, ...] = ()
    clock_map: SutClockMap | None = None  # None: the node measured no offset (its times taken as they are)


@dataclass(frozen=True)
class RunData:
    folder: RunFolder
    phases: dict[str, PhaseData]
    ptd_log: PtdLog | None
    server: SessionRecord | None
    client: SessionRecord | None
    ntp_offsets_s: tuple[tuple[int, float], ...]  # (client.log line, offset) pairs
    mlpower_session: SessionJson | None  # session.json of a run recorded by mlpower
    file_sha1: dict[str, str]  # relative path -> sha1 of every file under the folder
    problems: tuple[Finding, ...] = field(default=())
    gpus: tuple[GpuSeries, ...] = ()  # GPU readings streamed by the agent, on the meter's clock
    components: tuple[ComponentSeries, ...] = ()  # component readings (RAPL, hwmon), likewise; never GPUs
    server_raw: Any = None  # power/server.json as JSON, even when it does not parse as a record
    client_raw: Any = None
    design_power: DesignPower | None = None  # the submission tree's nameplate (systems/<id>_power.yaml), if any
    nodes: tuple[NodeData, ...] = ()  # the node agents beside the LoadGen node, by name
    system: SystemRecord | None = None  # system.json: a multi-node system's nodes and wall sources
    system_wall: SystemWall | None = None  # with it, every wall source's testing samples, for the join by time
    calibration: CalibrationRecord | None = None  # power/calibration.json: sensors calibrated against a wall meter
    calibration_file: str = f"power/{CALIBRATION_FILE}"  # where it was read from
    idle: IdleData | None = None  # mlpower's optional idle phase (idle/spl.txt); never read by the rules

    @property
    def testing(self) -> PhaseData:
        return self.phases[TESTING]

    @property
    def ranging(self) -> PhaseData:
        return self.phases[RANGING]


def find_run_root(path: Path | str) -> RunFolder:
    """The ``performance/`` folder at or under ``path``; raises when there is none."""
    root = Path(path)
    if not root.exists():
        raise UnreadableRunError(f"{root}: no such folder")
    if not root.is_dir():
        raise UnreadableRunError(f"{root}: not a folder (give the performance/ folder that holds run_1/ and ranging/)")
    for candidate in (root, root / "performance"):
        if any((candidate / d).is_dir() for d in (*PHASE_DIRS.values(), "power")):
            return RunFolder(candidate)
    raise UnreadableRunError(
        f"{root}: not an MLPerf power result folder: expected run_1/ and ranging/ (and usually power/) inside it"
    )


class _Loader:
    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.problems: list[Finding] = []

    def read(self, reader: Callable[[Path], T], path: Path) -> T | None:
        try:
            return reader(path)
        except MissingFileError:
            return None  # reported once, by the file-set rule
        except FormatError as e:
            self._problem(e.path, e.line_number, e.reason)
        except OSError as e:
            self._problem(path, None, f"cannot be read: {e.strerror or e}")
        return None

    def _problem(self, path: Path, line: int | None, reason: str) -> None:
        rel = self._rel(path)
        self.problems.append(
            Finding.failed(
                LOAD_RULE,
                "Files can be read",
                Severity.ERROR,
                f"{rel}: {reason}",
                Evidence(file=rel, line=line),
            )
        )

    def _rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.folder.root).as_posix()
        except ValueError:
            return str(path)

    def json(self, path: Path) -> Any:
        """A JSON file's content; ``_UNREADABLE`` (and a problem) when it cannot be read or is not JSON."""
        try:
            return loads_json(path.read_bytes())
        except ValueError as e:  # not JSON, not UTF-8, or nested too deeply
            self._problem(path, getattr(e, "lineno", None), f"not valid JSON: {e}")
        except OSError as e:
            self._problem(path, None, f"cannot be read: {e.strerror or e}")
        return _UNREADABLE

    def session_record(self, path: Path) -> tuple[SessionRecord | None, Any]:
        """The parsed record and its raw JSON (kept even when the record does not parse: the official
        checker reads the raw JSON its own way)."""
        raw = self.json(path) if path.is_file() else _UNREADABLE
        if raw is _UNREADABLE:
            return None, None
        try:
            return parse_session_record(raw, str(path)), raw
        except FormatError as e:
            self._problem(e.path, e.line_number, e.reason)
            return None, raw

    def mlpower_session(self) -> SessionJson | None:
        path = self.folder.root / "session.json"
        parsed = self._record("session.json", parse_session_json)
        if parsed is None:
            return None
        plausible = [c for c in parsed.clock if _clock_problem(c) is None]
        for i, entry in enumerate(parsed.clock):
            problem = _clock_problem(entry)
            if problem is not None:
                self._problem(path, None, f"clock[{i}] ({entry.phase} {entry.when}): {problem}: left out")
        return parsed if len(plausible) == len(parsed.clock) else parsed.model_copy(update={"clock": plausible})

    def clock_map(self, record: SessionJson | None) -> SutClockMap | None:
        """The session's one SUT-to-director time mapping, from every clock measurement in session.json."""
        if record is None:
            return None
        clock_map = SutClockMap.from_entries(record.clock)
        return clock_map if clock_map.known else None

    def phase_clock(
        self, record: SessionJson | None, phase: str, clock_map: SutClockMap | None, window: tuple[int, int] | None
    ) -> PhaseClock | None:
        if record is None or clock_map is None:
            return None
        offsets = {c.when: (c.offset_ns, c.bound_ns) for c in record.clock if c.phase == phase}
        if not offsets:
            return None
        values = list(offsets.values())
        before = offsets.get("before", values[0])
        after = offsets.get("after", values[-1])
        if window is None:
            offset, bound = (before[0] + after[0]) // 2, max(before[1], after[1]) + abs(after[0] - before[0]) // 2
        else:
            offset = clock_map.offset_ns((window[0] + window[1]) // 2)
            bound = max(clock_map.bound_ns(window[0]) or 0, clock_map.bound_ns(window[1]) or 0)
        return PhaseClock(
            offset_ns=offset,
            change_ns=after[0] - before[0],
            measurements=len(values),
            measurement_bound_ns=max(before[1], after[1]),
            bound_ns=bound,
        )

    def phase(
        self,
        phase: str,
        spl_fields: Collection[str],
        marks: bool,
        record: SessionJson | None,
        clock_map: SutClockMap | None,
    ) -> PhaseData:
        spl = self.read(lambda p: read_spl(p, spl_fields, marks), self.folder.spl(phase))
        detail = self.read(read_detail_log, self.folder.detail_log(phase))
        summary = self.read(read_summary_log, self.folder.summary_log(phase))
        queries = self.read(read_llm_queries, self.folder.phase_dir(phase) / QUERY_LOG_NAME)
        window = None
        if detail is not None:
            try:
                window = (detail.timestamp_ns("power_begin"), detail.timestamp_ns("power_end"))
            except FormatError as e:
                self._problem(e.path, e.line_number, e.reason)
        clock = self.phase_clock(record, phase, clock_map, window)
        data = PhaseData(phase, spl, detail, summary, window, None, clock, None, clock_map if clock else None,
                         self.analyzer_times(spl))  # fmt: skip
        raw = window_stats(spl, *window) if spl is not None and window is not None else None
        mapped = data.meter_window_utc_ns
        stats = raw
        if spl is not None and raw is not None and clock is not None and mapped is not None:
            stats = window_stats(spl, *mapped)
        return replace(data, stats=stats, raw_stats=raw, llm_queries=queries)

    def analyzer_times(self, spl: PowerLog | None) -> OwnTimes | str | None:
        """For a spl.txt merged from several analyzers, each analyzer's own Time (the line-merge audit's)."""
        if spl is None or not spl.analyzers:
            return None
        try:
            lines = Path(spl.path).read_bytes().decode("utf-8", "replace").splitlines()
        except OSError as e:
            return f"{spl.path} cannot be read again: {e.strerror or e}"
        return analyzer_own_times(lines, spl)

    def bad_lines(self, path: str, bad: Sequence[BadLine]) -> None:
        rel = self._rel(Path(path))
        first = bad[0]
        self.problems.append(
            Finding.failed(
                LOAD_RULE,
                "Files can be read",
                Severity.WARNING,
                f"{rel}: {len(bad)} line(s) could not be parsed and were left out "
                f"(first: line {first.line_number}, {first.reason})",
                *(
                    Evidence(file=rel, line=b.line_number, values={"reason": b.reason, "text": b.text})
                    for b in bad[:MAX_EVIDENCE]
                ),
            )
        )

    def sut_tables(self, folder: Path | None = None) -> dict[str, Columns]:
        try:
            return read_sample_folder(self.folder.root if folder is None else folder)
        except FormatError as e:
            self._problem(e.path, e.line_number, e.reason)
            return {}

    def sut_series(
        self, tables: dict[str, Columns], clock_map: SutClockMap | None
    ) -> tuple[tuple[GpuSeries, ...], tuple[ComponentSeries, ...]]:
        """The GPUs' series (``gpu<N>.power|energy``) and the components' (``rapl.package-0.energy``...)."""
        mapping = clock_map or SutClockMap(())
        empty_t, empty_v = np.zeros(0, dtype=np.int64), np.zeros(0)

        def times(columns: Columns) -> np.ndarray:
            # the SUT's own times, placed with the same map as LoadGen's window (a t_director_utc_ns column
            # written by an older director is not used: it had the session's mean offset)
            if "t_utc_ns" not in columns:
                return empty_t
            return mapping.to_director_array(np.asarray(columns["t_utc_ns"], dtype=np.int64))

        def values(columns: Columns, name: str) -> np.ndarray:
            return np.asarray(columns.get(name, empty_v), dtype=np.float64)

        indices = sorted({int(m.group(1)) for name in tables if (m := re.fullmatch(r"gpu(\d+)\.(power|energy)", name))})
        gpus = []
        for i in indices:
            power = tables.get(f"gpu{i}.power", {})
            energy = tables.get(f"gpu{i}.energy", {})
            gpus.append(GpuSeries(i, times(power), values(power, "power_w"), times(energy), values(energy, "energy_j")))
        by_name: dict[str, dict[str, Columns]] = {}
        for source, columns in tables.items():
            parsed = parse_component_source(source)
            if parsed is not None:
                by_name.setdefault(parsed[0], {})[parsed[1]] = columns
        components = []
        for name, series in sorted(by_name.items()):
            power, energy = series.get("power", {}), series.get("energy", {})
            components.append(
                ComponentSeries(name, times(power), values(power, "power_w"), times(energy), values(energy, "energy_j"))
            )
        return tuple(gpus), tuple(components)

    def nodes(self, record: SessionJson | None) -> tuple[NodeData, ...]:
        """Every node with a ``nodes/<node>/`` folder or an entry in session.json, sorted by name."""
        root = self.folder.root / NODES_DIR
        names = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
        described = record.nodes if record is not None else {}
        out = []
        for name in sorted(names | set(described)):
            entry = described.get(name)
            clock = [c for c in entry.clock if _clock_problem(c) is None] if entry is not None else []
            clock_map = SutClockMap.from_entries(clock)
            known = clock_map if clock_map.known else None
            gpus, components = self.sut_series(self.sut_tables(root / name), known)
            gpus = describe_gpus(gpus, entry.sources.gpus if entry is not None and entry.sources else ())
            out.append(NodeData(name, gpus, components, known))
        return tuple(out)

    def _record(self, name: str, parse: Callable[[Any, str], T]) -> T | None:
        """The run folder's JSON record ``name`` parsed; None when absent, or unreadable (a problem says why)."""
        path = self.folder.root / name
        if not path.is_file():
            return None
        record = self.json(path)
        if record is _UNREADABLE:
            return None
        try:
            return parse(record, str(path))
        except FormatError as e:
            self._problem(path, None, e.reason)
            return None

    def system(self) -> SystemRecord | None:
        return self._record(SYSTEM_FILE, parse_system_json)

    def calibration(self) -> CalibrationRecord | None:
        return self._record(f"power/{CALIBRATION_FILE}", parse_calibration_json)

    def ntp_offsets(self) -> tuple[tuple[int, float], ...]:
        path = self.folder.client_log
        if not path.is_file():
            return ()
        text = path.read_bytes().decode("utf-8", "replace")
        return tuple(
            (n, float(m.group("offset")))
            for n, line in enumerate(text.splitlines(), start=1)
            if (m := _NTP_OFFSET.search(line))
        )

    def sha1_of_files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for path in sorted(self.folder.root.rglob("*")):
            if path.is_file():
                try:
                    out[self._rel(path)] = _sha1(path)
                except OSError as e:
                    self._problem(path, None, f"cannot be read: {e.strerror or e}")
        return out


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_run(
    path: Path | str, spl_fields: Collection[str] = ("power_w",), hash_files: bool = False, marks: bool = False
) -> RunData:
    """Read a result folder. Raises :class:`UnreadableRunError` only when it is no result folder at all.

    The defaults read what the report needs; the rule checks want every spl field, the marks and file hashes.
    """
    folder = find_run_root(path)
    loader = _Loader(folder)
    record = loader.mlpower_session()
    clock_map = loader.clock_map(record)
    phases = {phase: loader.phase(phase, spl_fields, marks, record, clock_map) for phase in (RANGING, TESTING)}
    ptd_log = loader.read(read_ptd_log, folder.ptd_log)
    server, server_raw = loader.session_record(folder.server_record)
    client, client_raw = loader.session_record(folder.client_record)
    queries = [p.llm_queries for p in phases.values()]
    for log in (*(p.spl for p in phases.values()), *(p.detail for p in phases.values()), ptd_log, *queries):
        if log is not None and log.bad_lines:
            loader.bad_lines(log.path, log.bad_lines)
    gpus, components = loader.sut_series(loader.sut_tables(), clock_map)
    gpus = describe_gpus(gpus, record.agent.gpus if record is not None and record.agent else ())
    nodes = loader.nodes(record)
    system = loader.system()
    wall = None
    if system is not None:
        wall = system_wall(folder.root, system, phases[TESTING].spl, lambda p, why: loader._problem(p, None, why),
                           session=record)  # fmt: skip
    return RunData(
        folder=folder,
        phases=phases,
        ptd_log=ptd_log,
        server=server,
        client=client,
        server_raw=server_raw,
        client_raw=client_raw,
        ntp_offsets_s=loader.ntp_offsets(),
        mlpower_session=record,
        gpus=gpus,
        components=components,
        file_sha1=loader.sha1_of_files() if hash_files else {},
        problems=tuple(loader.problems),
        design_power=find_design_power(folder.root),
        nodes=nodes,
        system=system,
        system_wall=wall,
        calibration=loader.calibration(),
        idle=load_idle(folder.root, record, spl_fields, system),
    )
