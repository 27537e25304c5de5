"""``mlpower-agent``: runs on the system under test and reports to the director."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from agent.calibrate_cli import add_calibrate_parser, calibrate_command
from agent.client import DirectorClient
from agent.components.sysfs import HWMON_ROOT_ENV, POWERCAP_ROOT_ENV
from agent.components.sysfs_source import discover, open_components
from agent.errors import AgentError, TokenAuthenticationFailed
from agent.gpu.errors import GpuError
from agent.gpu.nvml import NvmlGpus
from agent.gpu.select import open_gpus
from agent.node_cli import add_node_parser, node_command
from agent.power_limits import describe_limit
from agent.run import RunOptions, SessionOutcome, run_session
from agent.signals import exit_status, forwarded_signals
from agent.sweep_cli import add_sweep_parser, sweep_command
from agent.workload import LOADGEN_DIR_ENV, Workload, builtin_workload
from powerlog.calibration_record import read_calibration_json
from powerlog.cli_support import EXIT_OK, EXIT_UNREADABLE, version_string
from powerlog.errors import PowerlogError
from powerlog.result_record import (
    ComponentPhaseSummary,
    GpuPhaseSummary,
    PerformanceRecord,
    QuantityRecord,
    SystemEnergyRecord,
)
from powerlog.tokens import MIN_TOKEN_CHARS, read_token_file, token_argument

__all__ = ["build_parser", "format_result", "main"]

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
BENCHMARK_SCENARIOS = {"builtin": SCENARIOS[:4], "builtin-llm": ("Offline", "Server", "Interactive")}
MIN_DURATION_S = 0.001  # LoadGen counts its duration in ms
MAX_DURATION_S = 7 * 24 * 3600.0  # a week: longer is a typo (LoadGen pre-generates queries for all of it)


def _duration_arg(text: str) -> float:
    """``--duration``: refused here, before any session holds the meter, unless a plausible number of seconds."""
    try:
        duration_s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(duration_s) or not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"must be positive and finite, from {MIN_DURATION_S:g} s to {MAX_DURATION_S:g} s (7 days), got {text!r}"
        )
    return duration_s


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpower-agent", description="Run a benchmark on the system under test while the director measures it."
    )
    parser.add_argument("--version", action="version", version=version_string("mlpower-agent"))
    sub = parser.add_subparsers(dest="command", required=True)
    run = argparse.ArgumentParser(add_help=False)  # run's options: sweep takes every one of them too
    run.add_argument("--director", required=True, help="director URL, e.g. http://127.0.0.1:4950")
    token = run.add_mutually_exclusive_group(required=True)
    token.add_argument(
        "--token", type=token_argument, help=f"the director's bearer token (at least {MIN_TOKEN_CHARS} characters)"
    )
    token.add_argument("--token-file", type=Path, help="file holding the director's token")
    run.add_argument("--label", default="", help="a name for the session (letters, digits, _ - .)")
    run.add_argument("--out", type=Path, default=Path("mlpower-agent-runs"), help="local copy of the run")
    run.add_argument(
        "--benchmark",
        choices=list(BENCHMARK_SCENARIOS),
        help="a built-in LoadGen benchmark: builtin (tiny numpy CNN), builtin-llm (tiny numpy transformer streaming "
        "tokens; Offline, Server, Interactive)",
    )
    run.add_argument(
        "--scenario", choices=SCENARIOS, default="Offline", help="LoadGen scenario (builtin; default Offline)"
    )
    run.add_argument(
        "--duration",
        type=_duration_arg,
        default=30.0,
        metavar="SECONDS",
        help=f"seconds per phase (builtin; default 30, at most {MAX_DURATION_S:g}: 7 days)",
    )
    run.add_argument(
        "--gpus",
        default="auto",
        help="GPUs to sample: auto (the NVIDIA GPUs NVML sees; none where it is absent), nvml, nvml:0,2, "
        "sim:N (N SIMULATED GPUs), none",
    )
    run.add_argument("--gpu-rate-hz", type=float, default=10.0, help="GPU power polling rate (default 10, max 100)")
    run.add_argument(
        "--components",
        default="none",
        help="component power beside the GPUs: auto (every readable RAPL domain and hwmon power sensor), rapl, "
        "hwmon, rapl,hwmon, component names such as rapl:package-0, or none (default); see `mlpower-agent sources`",
    )
    run.add_argument(
        "--component-rate-hz", type=float, default=10.0, help="component sampling rate (default 10, max 100)"
    )
    run.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE",
        help="a calibration.json (mlpower-agent calibrate) to apply: sent with the run, so the result also gives the "
        "GPUs' and components' corrected wall estimate",
    )
    run.add_argument(
        "--idle-s",
        type=_idle_seconds,
        default=0.0,
        metavar="N",
        help="an idle phase of N s before ranging: the SUT idle, the wall meter recording, for static power and "
        "active energy (default 0: none; not an official phase)",
    )
    run.add_argument("--progress-s", type=float, default=10.0, help="a progress line this often (default 10 s)")
    run.add_argument("--quiet", action="store_true", help="plain progress lines even on a terminal (no live panel)")
    run.add_argument("--ca-file", type=Path, help="trust this certificate (PEM) for an https director")
    run.add_argument(
        "--retry-s",
        type=float,
        default=60.0,
        help="keep trying a director that cannot be reached for this long before giving up (default 60 s)",
    )
    run.add_argument("workload", nargs=argparse.REMAINDER, help="-- COMMAND ARGS... (your own LoadGen benchmark)")
    sub.add_parser(
        "run",
        parents=[run],
        help="measure one benchmark: ranging run, then testing run",
        description="Open a session on the director, run the workload once for ranging and once for testing, "
        f"upload the LoadGen logs and print the result. A command gets ${LOADGEN_DIR_ENV}: the folder its "
        "LoadGen must log into.",
        usage="mlpower-agent run --director URL (--token T | --token-file F) [--label NAME] [--out DIR]\n"
        "       (--benchmark builtin|builtin-llm [--scenario S] [--duration SECONDS] | -- COMMAND ARGS...)",
    )
    add_sweep_parser(sub, run)
    gpus = sub.add_parser("gpus", help="list the GPUs and what each supports", description="List the GPUs.")
    gpus.add_argument("--gpus", default="auto", help="auto, nvml, nvml:0,2 or sim:N (default auto)")
    sub.add_parser(
        "sources",
        help="list the power sources this machine offers: GPUs (NVML), RAPL domains, hwmon power sensors",
        description="List the power sources the agent can sample here, each readable or not (and why not). "
        f"The sysfs roots can be moved with ${POWERCAP_ROOT_ENV} and ${HWMON_ROOT_ENV} (a fake tree: SIMULATED).",
    )
    add_node_parser(sub)
    add_calibrate_parser(sub)
    return parser


def _list_gpus(spec: str) -> int:
    source = open_gpus(spec, print)
    if source is None:
        if spec.strip() == "none":
            print("no GPUs selected (--gpus none)")
        return EXIT_OK
    try:
        infos = source.open()
        events = source.take_events()
        limits = {g.index: describe_limit(source, g.index) for g in infos}
    finally:
        source.close()
    for event in events:
        print(f"note: {event}")
    for g in infos:
        limit = limits[g.index]
        sim = "   SIMULATED" if g.simulated else ""
        print(
            f"GPU {g.index}: {g.name}  {g.uuid}  power limit {limit}  energy counter "
            f"{'yes' if g.energy_counter else 'no'}  power field {g.power_field or 'none'}{sim}"
        )
    return EXIT_OK


def _list_sources() -> int:
    """GPUs through NVML (never a simulated stand-in here), RAPL domains, hwmon sensors: readable or why not."""
    nvml = NvmlGpus()
    try:
        gpus = nvml.open()
        notes = nvml.take_events()
    except GpuError as e:
        gpus, notes = [], []
        print(f"GPUs (NVML): none: {e}")
    finally:
        nvml.close()
    if gpus:
        print(f"GPUs (NVML): {len(gpus)}")
    for g in gpus:
        print(f"  gpu{g.index}  {g.name}  readable  energy counter {'yes' if g.energy_counter else 'no'}")
    for note in notes:
        print(f"  note: {note}")
    found = discover()
    absent = tuple(f"{prefix}: " for prefix in ("RAPL", "hwmon"))  # the notes on a family with nothing found
    for family, title, prefix in (("rapl", "RAPL domains", "RAPL: "), ("hwmon", "hwmon power sensors", "hwmon: ")):
        sensors = [s.info for s in found.sensors if s.info.family.removesuffix("-mmio") == family]
        simulated = "   SIMULATED (a fake tree)" if found.simulated.get(family) else ""
        root = found.roots[family]
        if not sensors:
            said = [n.removeprefix(prefix) for n in found.notes if n.startswith(prefix)]
            print(f"{title} ({root}): none: {'; '.join(said) or 'nothing found'}{simulated}")
            continue
        readable = sum(c.readable for c in sensors)
        print(f"{title} ({root}): {len(sensors)}, {readable} readable{simulated}")
        for c in sensors:
            what = " + ".join(w for w, has in (("energy counter", c.energy_counter), ("power", c.power_sensor)) if has)
            wraps = f", wraps at {c.max_energy_range_uj / 1e6:,.0f} J" if c.max_energy_range_uj else ""
            state = "readable" if c.readable else f"NOT READABLE: {c.reason}"
            print(f"  {c.name}  {c.path}  {what}{wraps}  {state}")
    for note in found.notes:
        if not note.startswith(absent):
            print(f"note: {note}")
    if not gpus and not any(s.info.readable for s in found.sensors):
        print("nothing to sample here beside the wall meter: no GPU through NVML, no readable RAPL or hwmon sensor")
    return EXIT_OK


def _workload(args: argparse.Namespace) -> Workload:
    command = [a for a in args.workload if a != "--"] if args.workload else []
    if args.benchmark and command:
        raise AgentError("give either --benchmark builtin or -- COMMAND, not both")
    if args.benchmark in BENCHMARK_SCENARIOS:
        if args.scenario not in BENCHMARK_SCENARIOS[args.benchmark]:
            runs = ", ".join(BENCHMARK_SCENARIOS[args.benchmark])
            raise AgentError(f"--benchmark {args.benchmark} runs {runs}, not --scenario {args.scenario}")
        return builtin_workload(args.scenario, args.duration, "llm" if args.benchmark == "builtin-llm" else "cnn")
    if not command:
        raise AgentError("nothing to run: give --benchmark builtin or -- COMMAND ARGS...")
    return Workload(tuple(command))


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    read = read_token_file(args.token_file)
    if read.token is None:
        raise AgentError(f"--token-file: {read.problem}")
    if read.warning is not None:
        print(read.warning, file=sys.stderr)
    return read.token


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _gpu_rows(gpus: GpuPhaseSummary | None) -> list[tuple[str, str]]:
    if gpus is None:
        return []
    sim = "   SIMULATED" if gpus.simulated else ""
    rows = [("GPUs", f"{_num(gpus.total_energy_j, 1)} J, {_num(gpus.share_of_wall_pct, 1)} % of wall power{sim}")]
    for g in gpus.per_gpu:
        per_query, unit = (
            (g.energy_per_query_j, "J/query")
            if g.energy_per_query_j is not None
            else (g.energy_per_sample_j, "J/sample")
        )
        rows.append((f"  GPU {g.gpu}", f"{_num(g.energy_j, 1)} J, {_num(per_query, 4)} {unit}"))
    rows.append(("Rest of system", f"{_num(gpus.rest_of_system_w)} W"))
    return rows


def _system_rows(system: SystemEnergyRecord | None) -> list[tuple[str, str]]:
    """A multi-node system's total and each node's wall power, joined by time (the analyzer's report has more)."""
    if system is None:
        return []
    incomplete = [n.node for n in system.nodes if not n.complete]
    flags = (f"   INCOMPLETE: {', '.join(incomplete)}" if incomplete else "") + (
        f"   ESTIMATED: {', '.join(system.estimated)}" if system.estimated else ""
    )
    rows = [("System", f"{len(system.nodes)} nodes, {_num(system.avg_power_w)} W, {_num(system.energy_j, 1)} J "
                       f"(every wall source joined by time){flags}")]  # fmt: skip
    rows += [(f"  {n.node}", f"{_num(n.avg_power_w)} W, {_num(n.energy_j, 1)} J"
              f"{'   SIMULATED' if any(s.simulated for s in n.sources) else ''}") for n in system.nodes]  # fmt: skip
    if system.interconnect is not None:
        rows.append((f"  {system.interconnect.name}", f"{_num(system.interconnect.avg_power_w)} W"))
    return rows


def _component_rows(components: ComponentPhaseSummary | None) -> list[tuple[str, str]]:
    if components is None or not components.per_component:
        return []
    sim = "   SIMULATED" if components.simulated else ""
    rows = [("Components", f"{len(components.per_component)} (parts overlap: not added up){sim}")]
    for c in components.per_component:
        rows.append(
            (
                f"  {c.name}",
                f"{_num(c.mean_power_w)} W, {_num(c.energy_j, 1)} J, {_num(c.share_of_wall_pct, 1)} % of wall",
            )
        )
    return rows


def _quantity(q: QuantityRecord | PerformanceRecord | None, digits: int = 2) -> str:
    if q is None:
        return "n/a"
    bar = q.uncertainty if isinstance(q, QuantityRecord) else None
    error = f" ± {_num(bar.expanded, digits)} {q.unit} (k={bar.k:g})" if bar is not None else ""
    return f"{_num(q.value, digits)} {q.unit}{error}"


def _idle_seconds(text: str) -> float:
    """``--idle-s``: 0 (no idle phase) or a finite number of seconds up to a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86_400:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (no idle phase) up to 86400 s")
    return value


def _calibration(path: Path | None) -> Path | None:
    """The calibration file to send, read first so that a bad one stops the run before the meter is taken."""
    if path is None:
        return None
    try:
        read_calibration_json(path)
    except (PowerlogError, OSError) as e:
        raise AgentError(f"--calibration {path}: {e}; give a calibration.json made by mlpower-agent calibrate") from e
    return path


def format_result(outcome: SessionOutcome) -> str:
    report, check = outcome.result.report, outcome.result.check
    testing = [c for c in outcome.clocks if c.phase == "testing"]
    offset = max((abs(c.offset_ns) for c in testing), default=None)
    bound = max((c.bound_ns for c in testing), default=None)
    meter = report.meter
    rows = [
        ("Session", outcome.session.session_id),
        ("Scenario", f"{report.scenario}   (LoadGen: {report.loadgen_validity})"),
        ("Power metric", _quantity(report.power_metric)),
        ("Performance", _quantity(report.performance, 1)),
        ("Efficiency", _quantity(report.efficiency, 3)),
        ("Window", f"{_num(report.window_s, 3)} s, {report.samples_in_window} samples"),
        ("Energy", f"{_num(report.energy_j, 1)} J"),
        *([("Energy/token", _quantity(report.tokens.energy_per_output_token_joules, 4))] if report.tokens else []),
        (
            "Clock offset",
            "n/a"
            if offset is None or bound is None
            else f"{offset / 1e6:.3f} ms (bound {bound / 1e6:.3f} ms), testing phase",
        ),
        ("Meter", "n/a" if meter is None else f"{meter.model}{'   SIMULATED' if meter.simulated else ''}"),
        *_gpu_rows(report.gpus),
        *_component_rows(report.components),
        *_system_rows(report.system_energy),
        ("Check", f"{(check.verdict or 'n/a').upper()} ({check.errors} error(s), round {check.round})"),
        ("Official check", f"{(check.official_verdict or 'n/a').upper()} (the round's official power checker)"),
    ]
    lines = [f"{k:<15} {v}" for k, v in rows]  # a long key (a component's name) still gets its space
    lines += [f"  error {f.rule}: {f.message}" for f in check.findings if f.is_error]
    lines += [f"  official {c.check}: {c.message or c.title}" for c in check.official_checks if c.outcome == "fail"]
    lines.append(f"Run folder      {report.folder} (director); local copy {outcome.local_folder}")
    return "\n".join(lines)


def _token_hint(args: argparse.Namespace) -> str:
    given = f"the file {args.token_file}" if args.token_file else "--token"
    return (
        f"check the token in {given} against RUNS_DIR/director.token on the director's machine (the file its "
        "`serve --out RUNS_DIR` uses; `serve --new-token` replaced an older one)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the session closed, 2 with a message when it could not be run, 128 + the signal's number when
    SIGINT (Ctrl-C), SIGTERM or SIGHUP stopped it: the session aborted and the workload's processes stopped."""
    args = build_parser().parse_args(argv)
    try:
        with forwarded_signals():
            return _command(args)
    except TokenAuthenticationFailed as e:
        print(f"mlpower-agent: {e}; {_token_hint(args)}", file=sys.stderr)
        return EXIT_UNREADABLE
    except (AgentError, GpuError, ValueError) as e:
        print(f"mlpower-agent: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt as e:  # Ctrl-C, or agent.signals.Signalled
        name = getattr(e, "signal_name", "SIGINT")
        print(
            f"mlpower-agent: interrupted by {name}; the workload was stopped and its session (if one was open) "
            "aborted, the meter freed",
            file=sys.stderr,
        )
        return exit_status(e)


def _command(args: argparse.Namespace) -> int:
    if args.command == "gpus":
        return _list_gpus(args.gpus)
    if args.command == "sources":
        return _list_sources()
    if args.command == "node":
        return node_command(args, _token(args))
    if args.command == "calibrate":
        return calibrate_command(args, _token(args))
    workload = _workload(args)
    if workload.builtin:
        print(
            f"built-in benchmark {args.benchmark}: {args.scenario}, {args.duration:g} s per phase "
            "(a short, non-submission run)"
        )

    def options(out_dir: Path, label: str) -> RunOptions:  # a fresh GPU source for each session (it closes it)
        return RunOptions(
            label,
            out_dir,
            workload,
            gpus=open_gpus(args.gpus, print),
            gpu_rate_hz=args.gpu_rate_hz,
            components=open_components(args.components),
            component_rate_hz=args.component_rate_hz,
            expected_s=args.duration if workload.builtin else None,
            progress_s=args.progress_s,
            live_console=None if args.quiet or not sys.stdout.isatty() else Console(),
            calibration=_calibration(args.calibration),
            idle_s=args.idle_s,
        )

    if args.command == "sweep":
        return sweep_command(args, _token(args), options, print)
    run_options = options(args.out, args.label)
    with DirectorClient(args.director, _token(args), retry_s=args.retry_s, ca_file=args.ca_file) as client:
        outcome = run_session(run_options, client)
    print(format_result(outcome))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
