"""``scan``: every power result under some paths, analyzed in parallel, one row each.

A power result is a folder holding ``run_1/`` and at least one of ``ranging/``, ``power/`` or
``run_1/spl.txt`` (a submission tree's ``.../<scenario>/performance``, an mlpower run folder, or a
folder given by hand). A ``performance/`` folder of a compliance test (``TEST01/performance``) has
LoadGen logs only and is no power result. The search does not go into a result, nor into hidden
folders, and follows no symbolic link.

Each result is read and judged in a worker process (:func:`analyzer.result.open_result`, exactly what
``check`` and ``report`` do); a result that cannot be read becomes a
row with its error, and the scan goes on. Rows come back in path order, whatever the order the workers
finished in.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError
from analyzer.result import open_result
from powerlog.layout import PHASE_DIRS, RANGING, TESTING
from powerlog.result_record import QuantityRecord, TokenFiguresRecord

__all__ = ["ScanResult", "ScanRow", "find_results", "is_power_result", "scan_result", "scan_results"]


@dataclass(frozen=True)
class ScanRow:
    """One result's headline figures and verdicts; ``error`` set (and the figures None) when it could not
    be analyzed. ``path`` starts at the scanned folder it was found in (its name first), or is the path as given."""

    path: str
    round: str | None = None
    division: str | None = None
    submitter: str | None = None
    system: str | None = None
    benchmark: str | None = None
    scenario: str | None = None
    power_metric: float | None = None
    power_unit: str | None = None
    power_metric_uncertainty: float | None = None  # the expanded uncertainty (k = 2) of power_metric, its unit
    uncertainty_pct: float | None = None  # the same relative to power_metric (efficiency's is the same)
    uncertainty_dominant: str | None = None  # its largest component (accuracy, sampling, clock, gaps, calibration)
    performance: float | None = None
    performance_unit: str | None = None
    efficiency: float | None = None
    efficiency_unit: str | None = None
    efficiency_uncertainty: float | None = None  # expanded (k = 2), in efficiency_unit
    j_per_token: float | None = None  # a token-based result's wall energy per output token (analyzer.tokens)
    tokens_per_j: float | None = None  # its output tokens per joule of the wall
    gpu_j_per_token: float | None = None  # its GPUs' energy per output token
    official_verdict: str | None = None  # "pass" / "fail", as the round's official power checker would say
    mlpower_verdict: str | None = None  # "pass" / "fail": mlpower's stricter audit (any error fails)
    error_rules: tuple[str, ...] = ()  # the rule ids of mlpower's errors, in rule order, each once
    samples_in_window: int | None = None
    window_s: float | None = None
    gpu_share_pct: float | None = None  # the GPUs' share of the wall energy in the window, when recorded
    state: str | None = None  # an mlpower run folder's session state (closed, interrupted, ...)
    simulated: bool = False
    tier: str | None = None  # powerlog.tiers: ptdaemon, direct, bmc or components (the last two informative)
    nodes: int | None = None  # a multi-node run's nodes (system.json); None for one node
    system_power_w: float | None = None  # its whole system's average power, every wall source joined by time
    system_energy_uncertainty_j: float | None = None  # the expanded uncertainty (k = 2) of the system's energy
    system_complete: bool | None = None  # False when a source of it has a gap in the LoadGen window
    report_html: str | None = None  # the absolute path of a report.html in or beside the result
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["error_rules"] = list(self.error_rules)
        return d


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ScanRow))


@dataclass(frozen=True)
class ScanResult:
    rows: tuple[ScanRow, ...]
    notes: tuple[str, ...]  # paths given that held no power result, and folders the search could not read


def is_power_result(folder: Path) -> bool:
    run_1 = folder / PHASE_DIRS[TESTING]
    if not run_1.is_dir():
        return False
    return (folder / PHASE_DIRS[RANGING]).is_dir() or (folder / "power").is_dir() or (run_1 / "spl.txt").is_file()


def _walk(top: Path, notes: list[str]) -> Iterator[Path]:
    def unreadable(e: OSError) -> None:
        notes.append(f"{e.filename}: cannot be searched ({e.strerror or e})")

    for folder, subfolders, _ in os.walk(top, onerror=unreadable):
        here = Path(folder)
        if is_power_result(here):
            subfolders.clear()
            yield here
            continue
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))


def find_results(paths: Iterable[Path | str]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Every power result at or under ``paths`` as ``(folder, path relative to the given path)``, each
    once, and a note for each path that holds none."""
    found: list[tuple[Path, str]] = []
    notes: list[str] = []
    seen: set[Path] = set()
    for given in paths:
        top = Path(given)
        if not top.exists():
            notes.append(f"{top}: no such file or folder, skipped")
            continue
        if not top.is_dir():
            notes.append(f"{top}: not a folder, skipped")
            continue
        before = len(found)
        for folder in _walk(top, notes):
            real = folder.resolve()
            if real not in seen:
                seen.add(real)
                # a result given itself is named as given; one found inside a folder, by its path from
                # that folder, the folder's own name first (``runs/s1``, not a bare ``s1``)
                found.append((folder, top.as_posix() if folder == top else _relative(folder, top.resolve().parent)))
        if len(found) == before:
            notes.append(f"{top}: no power result in it (a result folder holds run_1/ and ranging/ or power/)")
    return found, notes


def _relative(folder: Path, base: Path) -> str:
    return Path(os.path.relpath(folder.resolve(), base)).as_posix()


def _report_html(folder: Path) -> str | None:
    for candidate in (folder / "report.html", folder.parent / "report.html"):
        if candidate.is_file():
            return str(candidate.resolve())
    return None


def scan_result(
    folder: Path | str,
    rel: str | None = None,
    round_name: str | None = None,
    benchmark: str | None = None,
    scenario: str | None = None,
) -> ScanRow:
    """One result's row. Never raises for a bad folder: the row carries the error."""
    folder = Path(folder)
    rel = rel if rel is not None else folder.as_posix()
    try:
        result = open_result(folder, round_name, benchmark=benchmark, scenario=scenario)
        report, findings, official_verdict = result.report(), result.check(), result.official_verdict
    except (AnalyzerError, ValueError, OSError) as e:
        return ScanRow(path=rel, error=str(e))
    except Exception as e:  # a bug must not stop a scan of hundreds of results; the row names it
        return ScanRow(path=rel, error=f"internal error, please report: {type(e).__name__}: {e}")
    context, session = result.context, result.run.mlpower_session
    position = context.position
    metric, perf, eff = report.power_metric, report.performance, report.efficiency
    errors = list(dict.fromkeys(f.rule for f in findings if f.is_error))
    bar = metric.uncertainty if metric else None
    system_bar = report.system_energy.uncertainty if report.system_energy else None
    return ScanRow(
        path=rel,
        round=context.round.name,
        division=position.division,
        submitter=position.submitter,
        system=position.system,
        benchmark=context.benchmark,
        scenario=report.scenario,
        power_metric=metric.value if metric else None,
        power_unit=metric.unit if metric else None,
        power_metric_uncertainty=bar.expanded if bar else None,
        uncertainty_pct=bar.relative_pct if bar else None,
        uncertainty_dominant=bar.dominant if bar else None,
        performance=perf.value if perf else None,
        performance_unit=perf.unit if perf else None,
        efficiency=eff.value if eff else None,
        efficiency_unit=eff.unit if eff else None,
        efficiency_uncertainty=eff.uncertainty.expanded if eff and eff.uncertainty else None,
        j_per_token=_token_figure(report.tokens, "energy_per_output_token_joules"),
        tokens_per_j=_token_figure(report.tokens, "output_tokens_per_joule"),
        gpu_j_per_token=_token_figure(report.tokens, "gpu_energy_per_output_token_joules"),
        official_verdict=official_verdict,
        mlpower_verdict=result.verdict.value,
        error_rules=tuple(errors),
        samples_in_window=report.samples_in_window,
        window_s=report.window_s,
        gpu_share_pct=report.gpus.share_of_wall_pct if report.gpus else None,
        state=session.state or None if session else None,
        simulated=report.simulated,
        tier=report.tier.value if report.tier else None,
        nodes=len(report.system_energy.nodes) if report.system_energy else None,
        system_power_w=report.system_energy.avg_power_w if report.system_energy else None,
        system_energy_uncertainty_j=system_bar.expanded if system_bar else None,
        system_complete=report.system_energy.complete if report.system_energy else None,
        report_html=_report_html(folder),
    )


def _token_figure(tokens: TokenFiguresRecord | None, name: str) -> float | None:
    """A token-based result's per-token figure (None for any other result)."""
    figure: QuantityRecord | None = getattr(tokens, name) if tokens is not None else None
    return figure.value if figure is not None else None


def _scan_one(args: tuple[str, str, str | None, str | None, str | None]) -> ScanRow:
    return scan_result(*args)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def scan_results(
    paths: Iterable[Path | str],
    *,
    jobs: int | None = None,
    round_name: str | None = None,
    benchmark: str | None = None,
    scenario: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Find and analyze every power result under ``paths`` with ``jobs`` worker processes (default: the
    cores this process may use); ``progress(done, total)`` is called as results finish. The rows come in
    the order found: the paths as given, each one's results in path order."""
    found, notes = find_results(paths)
    work = [(str(folder), rel, round_name, benchmark, scenario) for folder, rel in found]
    jobs = min(jobs or default_jobs(), len(work)) or 1
    rows: list[ScanRow | None] = [None] * len(work)

    def done(index: int, row: ScanRow) -> None:
        rows[index] = row
        if progress is not None:
            progress(sum(r is not None for r in rows), len(work))

    if jobs == 1:
        if progress is not None:
            progress(0, len(work))
        for i, item in enumerate(work):
            done(i, _scan_one(item))
    else:
        _run_parallel(work, jobs, progress, done)
    return ScanResult(tuple(r for r in rows if r is not None), tuple(notes))


def _run_parallel(
    work: Sequence[tuple[str, str, str | None, str | None, str | None]],
    jobs: int,
    progress: Callable[[int, int], None] | None,
    done: Callable[[int, ScanRow], None],
) -> None:
    # fork: the workers start with the analyzer already imported (a spawned one would import it again,
    # about 0.5 s each on a small machine)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future[ScanRow], int] = {pool.submit(_scan_one, item): i for i, item in enumerate(work)}
        if progress is not None:  # only now: every worker is forked, so none inherits a progress thread
            progress(0, len(work))
        for future in as_completed(futures):
            index = futures[future]
            try:
                row = future.result()
            except BrokenProcessPool as e:
                row = ScanRow(path=work[index][1], error=f"the worker process analyzing it died: {e}")
            done(index, row)
