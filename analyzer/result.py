"""One result folder as a Python object: its samples as pandas DataFrames, its report and its checks.

:func:`open_result` is the analysis's one entry point (the director's close, ``report``, ``check``,
``scan``, ``compare``, ``export`` and the Python API all start here): it reads the folder once (with
:func:`analyzer.run.load_run`, everything the rule checks need) and decides the result's round, benchmark
and scenario once (:func:`analyzer.context.result_context`); the :class:`Result` it returns computes the
report, the checks, the official verdict, result.json and report.html from what was read, without
touching the folder again (except :meth:`Result.to_parquet`, which writes). The DataFrames are built by
pure functions of the loaded data, :func:`samples_frame` and :func:`gpu_frame`.

Times are UTC: the index is a ``DatetimeIndex`` of ``datetime64[ns, UTC]`` named ``time_utc``
(``df.index.asi8`` gives the ns integers the rest of mlpower uses). ``in_window`` is True for a
reading strictly inside LoadGen's window as placed on the meter's clock, the rule the official metric
uses: the mean of ``power_w`` over the rows with ``in_window`` and ``power_w > 0`` is the report's
``avg_power_w``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from analyzer.checks import check_run, check_summary, verdict
from analyzer.context import ResultContext, result_context
from analyzer.errors import AnalyzerError, UnknownPhaseError, UnreadableRunError
from analyzer.findings import Finding, Status
from analyzer.gpu import GpuSeries
from analyzer.metrics import Scenario, strictly_inside
from analyzer.official import OfficialCheck, official_checks, official_verdict
from analyzer.report import Report, build_report
from analyzer.rounds import Round
from analyzer.run import PhaseData, RunData, load_run
from analyzer.system_run import system_wall
from powerlog.calibration_record import CalibrationRecord, read_calibration_json
from powerlog.cli_support import atomic_output, dump_json
from powerlog.errors import FormatError, PowerlogError
from powerlog.layout import RANGING, TESTING
from powerlog.result_record import CheckRecord, ResultJson
from powerlog.spl import SPL_FIELDS, ChannelReadings, PowerLog

__all__ = [
    "GPU_COLUMNS",
    "INDEX_NAME",
    "PHASES",
    "SAMPLE_COLUMNS",
    "Result",
    "gpu_frame",
    "in_window",
    "node_samples_frame",
    "open_result",
    "phase_name",
    "samples_frame",
    "utc_index",
]

INDEX_NAME = "time_utc"
PHASES = (RANGING, TESTING)
SAMPLE_COLUMNS = (*SPL_FIELDS, "in_window")  # power_w, volts_v, amps_a, pf, in_window; channels in between
GPU_COLUMNS = ("gpu", "power_w", "in_window")
_ALIASES = {RANGING: RANGING, TESTING: TESTING, "run_1": TESTING}  # run_1/ is the testing phase's folder


def phase_name(phase: str) -> str:
    """``ranging`` or ``testing`` (``run_1``, the testing folder's name, is taken as ``testing``)."""
    try:
        return _ALIASES[phase]
    except (KeyError, TypeError):
        raise UnknownPhaseError(
            f"unknown phase {phase!r}: one of {', '.join(PHASES)} (run_1 is the testing phase)"
        ) from None


def utc_index(t_utc_ns: npt.ArrayLike) -> pd.DatetimeIndex:
    """UTC ns integers as a ``datetime64[ns, UTC]`` index named ``time_utc``."""
    t = np.asarray(t_utc_ns, dtype=np.int64).astype("datetime64[ns]")
    return pd.DatetimeIndex(t, name=INDEX_NAME).tz_localize("UTC")


def in_window(t_utc_ns: npt.NDArray[np.int64], window_utc_ns: tuple[int, int] | None) -> npt.NDArray[np.bool_]:
    """True for the times strictly inside the window (as :func:`analyzer.metrics.window_stats` counts
    them); all False when there is no window."""
    if window_utc_ns is None:
        return np.zeros(t_utc_ns.shape[0], dtype=bool)
    return strictly_inside(t_utc_ns, *window_utc_ns)


def _readings(prefix: str, readings: ChannelReadings, n: int) -> dict[str, npt.NDArray[np.float64]]:
    """A channel's (or an analyzer's) columns, each field named with its unit; NaN for a field not read."""
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name in SPL_FIELDS:
        values = getattr(readings, name)
        out[f"{prefix}{name}"] = np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)
    return out


def _wall_columns(log: PowerLog) -> dict[str, npt.NDArray[np.float64]]:
    n = len(log)
    columns = _readings("", ChannelReadings(log.power_w, log.volts_v, log.amps_a, log.pf), n)
    for k, channel in enumerate(log.channels, start=1):
        columns.update(_readings(f"ch{k}_", channel, n))
    for a, analyzer in enumerate(log.analyzers, start=1):
        columns.update(_readings(f"a{a}_", analyzer.total, n))
        for k, channel in enumerate(analyzer.channels, start=1):
            columns.update(_readings(f"a{a}_ch{k}_", channel, n))
    return columns


def samples_frame(phase: PhaseData) -> pd.DataFrame:
    """A phase's wall samples (its spl.txt), one row per line, in file order.

    Columns: ``power_w`` (W), ``volts_v`` (V), ``amps_a`` (A), ``pf`` (power factor) of each line's
    leading fields (the total of a multichannel or multi-analyzer line); ``ch<k>_power_w``,
    ``ch<k>_volts_v``, ``ch<k>_amps_a``, ``ch<k>_pf`` per channel of a multichannel log;
    ``a<i>_...`` and ``a<i>_ch<k>_...`` per analyzer of a log merged from several analyzers; then
    ``in_window``. A field not read is NaN. No spl.txt: an empty frame with the single-channel columns.
    """
    log = phase.spl
    if log is None:
        empty: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.bool_]] = {
            name: np.zeros(0, dtype=np.float64) for name in SPL_FIELDS
        }
        empty["in_window"] = np.zeros(0, dtype=bool)
        return pd.DataFrame(empty, index=utc_index(np.zeros(0, dtype=np.int64)))
    frame: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.bool_]] = dict(_wall_columns(log))
    frame["in_window"] = in_window(log.t_utc_ns, phase.meter_window_utc_ns)
    return pd.DataFrame(frame, index=utc_index(log.t_utc_ns))


def node_samples_frame(run: RunData, phase: PhaseData, node: str) -> pd.DataFrame:
    """One node's wall samples in a phase of a multi-node run: every wall source of it (system.json), each at its
    own instants (never resampled), sorted by time.

    Columns: ``source`` (the source's name, ``<node>.<index>``), ``power_w`` (W, the channels that are the
    node's), ``in_window``. :class:`AnalyzerError` for a run without system.json or a node it does not name."""
    system = run.system
    if system is None:
        raise AnalyzerError(f"{run.folder.root}: no system.json: a one-node run has no node= (leave it out)")
    names = [n.name for n in system.nodes]
    if node not in names:
        raise AnalyzerError(f"{run.folder.root}: no node {node!r} in system.json (nodes: {', '.join(names)})")
    wall = system_wall(run.folder.root, system, phase.spl, lambda path, why: None, phase.phase, run.mlpower_session)
    mine = [s for s in wall.sources if s.node == node]
    t = np.concatenate([s.t_utc_ns for s in mine]) if mine else np.zeros(0, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    frame = {
        "source": np.concatenate([np.full(len(s.t_utc_ns), s.name, dtype=object) for s in mine])[order]
        if mine
        else np.zeros(0, dtype=object),
        "power_w": (np.concatenate([s.power_w for s in mine]) if mine else np.zeros(0))[order],
        "in_window": in_window(t[order], phase.meter_window_utc_ns),
    }
    return pd.DataFrame(frame, index=utc_index(t[order]))


def _phase_span_ns(phase: PhaseData) -> tuple[int, int] | None:
    """The stretch of the session that belongs to a phase: its first to last wall sample, else its window."""
    if phase.spl is not None and len(phase.spl):
        return int(phase.spl.t_utc_ns.min()), int(phase.spl.t_utc_ns.max())
    return phase.meter_window_utc_ns


def gpu_frame(gpus: Sequence[GpuSeries], phase: PhaseData) -> pd.DataFrame:
    """The instant GPU power readings taken during a phase (from its first to its last wall sample, or over
    its LoadGen window when it has no wall samples), on the meter's clock, sorted by time.

    Columns: ``gpu`` (the GPU's index, int), ``power_w`` (W), ``in_window``. Empty (same columns) when
    there are no readings.
    """
    span = _phase_span_ns(phase)
    times: list[npt.NDArray[np.int64]] = []
    index: list[npt.NDArray[np.int64]] = []
    power: list[npt.NDArray[np.float64]] = []
    if span is not None:
        for series in gpus:
            keep = (series.power_t_ns >= span[0]) & (series.power_t_ns <= span[1])
            times.append(series.power_t_ns[keep])
            index.append(np.full(int(keep.sum()), series.gpu_index, dtype=np.int64))
            power.append(series.power_w[keep])
    t = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    frame = {
        "gpu": (np.concatenate(index) if index else np.zeros(0, dtype=np.int64))[order],
        "power_w": (np.concatenate(power) if power else np.zeros(0, dtype=np.float64))[order],
        "in_window": in_window(t, phase.meter_window_utc_ns),
    }
    return pd.DataFrame(frame, index=utc_index(t))


class Result:
    """A result folder read once, with its round, benchmark and scenario decided.

    Build one with :func:`open_result`; the constructor only keeps what it is given. The figures are
    computed on first use and kept. The checks (and the official ones) need a run loaded as
    :func:`open_result` loads it by default; ``checkable=False`` says it was read for the report only.
    """

    def __init__(self, run: RunData, context: ResultContext, *, checkable: bool = True) -> None:
        self._run = run
        self._context = context
        self._checkable = checkable
        self._report: Report | None = None
        self._findings: tuple[Finding, ...] | None = None
        self._official: tuple[OfficialCheck, ...] | None = None

    def __repr__(self) -> str:
        return f"Result({str(self.folder)!r}, round={self.round.name!r})"

    @property
    def run(self) -> RunData:
        """Everything read from the folder."""
        return self._run

    @property
    def context(self) -> ResultContext:
        """Round, benchmark and scenario, and where each came from."""
        return self._context

    @property
    def round(self) -> Round:
        return self._context.round

    @property
    def folder(self) -> Path:
        """The ``performance/`` folder."""
        return self._run.folder.root

    def samples(self, phase: str = TESTING, node: str | None = None) -> pd.DataFrame:
        """The phase's wall samples: see :func:`samples_frame`; with ``node``, that node's of a multi-node run
        (see :func:`node_samples_frame`)."""
        data = self._run.phases[phase_name(phase)]
        if node is None:
            return samples_frame(data)
        return node_samples_frame(self._run, data, node)

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes of a multi-node run (system.json), the LoadGen node first; () for a one-node run."""
        system = self._run.system
        if system is None:
            return ()
        return (system.loadgen_node, *(n.name for n in system.nodes if n.name != system.loadgen_node))

    def gpu(self, phase: str = TESTING) -> pd.DataFrame:
        """The GPU power readings of the phase: see :func:`gpu_frame`."""
        return gpu_frame(self._run.gpus, self._run.phases[phase_name(phase)])

    def report(self) -> Report:
        """The official metric and its breakdown (:func:`analyzer.report.build_report`)."""
        if self._report is None:
            self._report = build_report(self._run, self._context)
        return self._report

    def _need_checks(self) -> None:
        if not self._checkable:
            raise AnalyzerError(f"{self.folder}: opened for the report only (checks=False): no rule checks")

    def check(self) -> tuple[Finding, ...]:
        """Every rule's finding (:func:`analyzer.checks.check_run`)."""
        if self._findings is None:
            self._need_checks()
            self._findings = check_run(self._run, self._context)
        return self._findings

    def official_checks(self) -> tuple[OfficialCheck, ...]:
        """The official power checker's checks for the result's round (:func:`analyzer.official.official_checks`)."""
        if self._official is None:
            self._need_checks()
            self._official = official_checks(self._run, self._context.round)
        return self._official

    def check_record(self) -> CheckRecord:
        """``check --json``: both verdicts, every finding and every official check."""
        return check_summary(self._run, self._context, self.check(), self.official_checks(), self.report().power_metric)

    def result_json(self) -> ResultJson:
        """result.json: the report and the check record."""
        return ResultJson(report=self.report(), check=self.check_record())

    def html(self) -> str:
        """report.html: the verdicts, the findings, the figures and the power trace (:mod:`analyzer.html`)."""
        from analyzer.html import render_html  # plotly: imported only by those who draw

        return render_html(self.report(), self._run, self.check(), self.official_checks())

    @property
    def verdict(self) -> Status:
        """mlpower's verdict: FAIL when any finding is an error, else PASS."""
        return verdict(self.check())

    @property
    def official_verdict(self) -> str:
        """The official power checker's verdict, ``"pass"`` or ``"fail"``."""
        return official_verdict(self.official_checks())

    def to_parquet(self, folder: Path | str) -> tuple[Path, ...]:
        """Write ``ranging_samples.parquet`` and ``testing_samples.parquet`` (wall samples, as
        :meth:`samples` gives them), ``<phase>_gpu.parquet`` for a phase with GPU readings, and
        ``report.json`` into ``folder`` (made if missing); each file is written whole or not at all.
        Returns the paths written."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for phase in PHASES:
            frames = [("samples", self.samples(phase))]
            gpu = self.gpu(phase)
            if len(gpu):
                frames.append(("gpu", gpu))
            for kind, frame in frames:
                path = out / f"{phase}_{kind}.parquet"
                with atomic_output(path) as partial:
                    frame.to_parquet(partial, engine="pyarrow")
                written.append(path)
        path = out / "report.json"
        with atomic_output(path) as partial:
            partial.write_text(dump_json(self.report().to_json_obj()) + "\n", encoding="utf-8")
        written.append(path)
        return tuple(written)


def open_result(
    path: Path | str,
    round: Round | str | None = None,  # the word the rest of mlpower uses (--round)
    *,
    benchmark: str | None = None,
    scenario: str | Scenario | None = None,
    checks: bool = True,
    calibration: Path | str | None = None,
) -> Result:
    """Read a result folder (the ``performance/`` folder or the one above it) with everything the report
    and the checks need, and decide its round (None: detect it; a name such as ``"v5.1"``; a
    :class:`Round`), benchmark and scenario (None: from the folder). ``checks=False`` reads only what the
    report needs (no checksums, marks or extra spl fields: faster), and the result then has no checks.

    Raises :class:`~analyzer.errors.UnreadableRunError` when the folder is no result folder and
    :class:`~analyzer.errors.UnknownRoundError` for a round that is not encoded; a problem inside a
    readable folder is a finding of :meth:`Result.check`. ``calibration``: a calibration file
    (``mlpower-agent calibrate``) to apply instead of the folder's own ``power/calibration.json``; an unreadable one
    raises :class:`~analyzer.errors.UnreadableRunError` saying why.
    """
    run = load_run(path, spl_fields=SPL_FIELDS, hash_files=True, marks=True) if checks else load_run(path)
    if calibration is not None:
        run = replace(run, calibration=read_calibration(calibration), calibration_file=str(calibration))
    return Result(run, result_context(run, round, benchmark=benchmark, scenario=scenario), checkable=checks)


def read_calibration(path: Path | str) -> CalibrationRecord:
    """A calibration file to apply; :class:`UnreadableRunError` saying what is wrong with it and what to do."""
    try:
        return read_calibration_json(Path(path))
    except FormatError as e:
        raise UnreadableRunError(
            f"calibration file {path}: {e}; give a calibration.json made by mlpower-agent calibrate"
        ) from e
    except (PowerlogError, OSError) as e:
        raise UnreadableRunError(f"calibration file {path} cannot be read: {e}") from e
