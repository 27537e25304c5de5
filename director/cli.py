"""``mlpower-director``: the machine wired to the power analyzer."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from director.errors import DirectorError, MeterErrorReply
from director.meters.ranges import Ranges
from director.meters.registry import meter_models
from director.meters.urls import open_meter
from director.ptd_front.server import MIN_INTERVAL_MS, PtdLogFile, PtdSimulator, serve_until_signalled
from director.tokens import MIN_TOKEN_CHARS, token_argument
from powerlog.cli_support import EXIT_ERRORS, EXIT_OK, EXIT_UNREADABLE, version_string
from powerlog.spl import format_spl_line

__all__ = ["build_parser", "main"]

if TYPE_CHECKING:  # what add_subparsers() gives: one _add_<command> helper below adds each command to it
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _lease_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86_400:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds above 0 and under a day, e.g. 20")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpower-director",
        description="Record wall-meter readings for MLPerf power measurements.",
    )
    parser.add_argument("--version", action="version", version=version_string("mlpower-director"))
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ptd_sim(sub)
    _add_meter_sim(sub)
    _add_redfish_sim(sub)
    _add_serve(sub)
    _add_watch(sub)
    _add_demo(sub)
    _add_meter_probe(sub)
    _add_nameplate(sub)
    _add_system_check(sub)
    return parser


def _add_ptd_sim(sub: Commands) -> None:
    sim = sub.add_parser(
        "ptd-sim",
        help="serve the PTDaemon TCP protocol in front of a SIMULATED analyzer",
        description="Serve SPEC PTDaemon's TCP protocol in front of a simulated analyzer "
        "(its Identify reply and log say SIMULATED).",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8888, help="TCP port (default 8888; 0 picks a free one)")
    sim.add_argument("--channels", type=int, default=1, help="analyzer channels (>1 gives the multichannel format)")
    sim.add_argument("--dc", action="store_true", help="simulate a DC analyzer (answers DC-RL)")
    sim.add_argument(
        "--signal",
        default="host-load",
        help="host-load (this machine's CPU use), constant:WATTS or csv:PATH (seconds,watts rows)",
    )
    sim.add_argument("--noise", type=float, default=0.01, help="relative noise on watts (default 0.01; 0 = exact)")
    sim.add_argument("--seed", type=int, default=0, help="noise seed")
    sim.add_argument("--volts", type=float, default=230.0, help="nominal supply voltage (default 230)")
    sim.add_argument("--log", type=Path, help="write PTDaemon's debug log (ptd_logs.txt format) to this file")
    sim.add_argument("--sample-log", type=Path, help="write every sample to this file, as PTDaemon's -l does")


def _add_meter_sim(sub: Commands) -> None:
    msim = sub.add_parser(
        "meter-sim",
        help="a SIMULATED Yokogawa WT310 or WT332/WT333 answering SCPI on a pseudo-terminal",
        description="Open a pty pair, print the device path, and answer SCPI like a WT310E, WT332E or WT333E "
        "(SIMULATED).",
    )
    msim.add_argument("--serial", action="store_true", required=True, help="serve on a pseudo-terminal")
    msim.add_argument(
        "--model",
        default="wt310",
        choices=["wt310", "wt332", "wt333"],
        help="wt310 (one element, default), wt332 or wt333 (two or three elements, summed as channels)",
    )
    msim.add_argument("--signal", default="host-load", help="host-load, constant:WATTS or csv:PATH")
    msim.add_argument("--noise", type=float, default=0.01, help="relative noise on watts (default 0.01)")
    msim.add_argument("--garbage-every", type=int, default=0, help="corrupt every Nth value reply (tests)")


def _add_redfish_sim(sub: Commands) -> None:
    rsim = sub.add_parser(
        "redfish-sim",
        help="a SIMULATED BMC answering the DMTF Redfish API (wall power of its power supplies) over HTTP(S)",
        description="Serve a SIMULATED BMC's Redfish API on loopback (PowerSubsystem and the older Power "
        "resource) and print the redfish:// meter URL that reads it.",
    )
    rsim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rsim.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one, printed)")
    rsim.add_argument("--https", action="store_true", help="serve HTTPS with a self-signed certificate made now")
    rsim.add_argument("--rate", type=float, default=1.0, help="seconds between reading updates (default 1)")
    rsim.add_argument("--signal", default="host-load", help="host-load, constant:WATTS or csv:PATH")
    rsim.add_argument("--noise", type=float, default=0.01, help="relative noise on watts (default 0.01)")
    rsim.add_argument("--supplies", type=int, default=2, help="power supplies, one channel each (default 2)")
    rsim.add_argument(
        "--chassis",
        type=int,
        default=1,
        help="serve this many chassis (C1, C2, ...), a meter URL each, their updates spread over the interval "
        "(default 1)",
    )
    rsim.add_argument("--psu-capacity-w", type=float, default=800.0, help="each supply's PowerCapacityWatts (800)")
    rsim.add_argument("--psu-min-needed", type=int, help="publish a redundancy group: this many supplies needed")
    rsim.add_argument("--user", help="ask for this user (Basic or a Redfish session; default: no authentication)")
    rsim.add_argument("--password", help="and this password")
    rsim.add_argument("--no-sessions", action="store_true", help="offer Basic authentication only")
    rsim.add_argument("--stale-after", type=float, metavar="S", help="readings stop updating after S seconds")
    rsim.add_argument("--legacy-only", action="store_true", help="only the older Power resource, no PowerSubsystem")
    rsim.add_argument(
        "--freshness",
        default="reading-time",
        choices=["reading-time", "etag", "none"],
        help="what dates a reading: Sensor ReadingTime and ETags (default), ETags only, or nothing",
    )
    rsim.add_argument("--slow-s", type=float, default=0.0, help="delay every reply by this many seconds")
    rsim.add_argument("--auth-fault", type=int, choices=[401, 403], help="refuse every authenticated request so")


def _add_serve(sub: Commands) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve measurement sessions over HTTP for mlpower-agent",
        description="Hold the meter and serve measurement sessions (ranging, testing) to mlpower-agent over HTTP.",
    )
    wall = serve.add_mutually_exclusive_group(required=True)
    wall.add_argument("--meter", action="append", help="meter URL, e.g. ptd://127.0.0.1:8888 (a one-node system)")
    wall.add_argument(
        "--system",
        type=Path,
        metavar="SYSTEM.toml",
        help="a multi-node system: its nodes, each node's wall meters, the LoadGen node and the interconnect "
        "(docs/hardware-setup.md, Multi-node systems); every meter is measured in each session",
    )
    serve.add_argument("--out", type=Path, required=True, help="folder for the run folders (RUNS_DIR)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=4950, help="TCP port (default 4950; 0 picks a free one)")
    token = serve.add_mutually_exclusive_group()
    token.add_argument(
        "--token",
        type=token_argument,
        help=f"bearer token agents must send, at least {MIN_TOKEN_CHARS} characters (default: generate one)",
    )
    token.add_argument("--token-file", type=Path, help="read the token from this file")
    token.add_argument(
        "--new-token",
        action="store_true",
        help="replace RUNS_DIR/director.token with a new token (default: keep the one a previous serve wrote)",
    )
    serve.add_argument("--settle-s", type=float, default=10.0, help="wait after setting ranges (default 10 s)")
    serve.add_argument(
        "--lease-s",
        type=_lease_seconds,
        default=20.0,
        help="abort a session whose agent is silent this long, freeing the meter (default 20 s)",
    )
    serve.add_argument(
        "--ptd-log",
        type=Path,
        help="PTDaemon's debug log (its console output redirected to a file; not the -l sample log), each "
        "session's part copied into power/ptd_logs.txt",
    )
    serve.add_argument("--round", default=None, help="MLPerf round whose rules the result is checked against")
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM; with --tls-key)")
    serve.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument(
        "--power-dev-listen",
        metavar="HOST:PORT",
        help="also serve power-dev's client.py (protocol v3, no authentication) here; loopback unless "
        "--power-dev-allow names who may connect",
    )
    serve.add_argument(
        "--power-dev-allow",
        nargs="+",
        metavar="CIDR",
        default=None,
        help="networks whose power-dev clients may connect (default: loopback only)",
    )


def _add_watch(sub: Commands) -> None:
    watch = sub.add_parser(
        "watch",
        help="a read-only live dashboard and /metrics following PTDaemon's -l sample log(s)",
        description="Follow the sample log(s) PTDaemon writes with -l (one per analyzer) while power-dev's own "
        "server runs a session, and serve a read-only live dashboard and /metrics of it; phases are found from "
        "the marks (<session>_ranging, <session>_testing). Nothing is written anywhere.",
    )
    watch.add_argument("logs", nargs="+", type=Path, metavar="PTD_SAMPLE_LOG", help="PTDaemon's -l file(s)")
    watch.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    watch.add_argument("--port", type=int, default=4960, help="TCP port (default 4960; 0 picks a free one)")
    watch.add_argument("--interval-ms", type=int, default=1000, help="PTDaemon's sample interval (default 1000 ms)")
    watch.add_argument(
        "--utc-offset-s",
        type=float,
        default=None,
        help="the sample log's local time minus UTC, in seconds (default: this machine's time zone)",
    )
    watch.add_argument(
        "--idle-stop-s", type=float, default=5.0, help="a phase stops after this long without samples (default 5 s)"
    )
    watch.add_argument("--token-file", type=Path, help="ask for this token (needed to listen off loopback)")


def _add_demo(sub: Commands) -> None:
    demo = sub.add_parser(
        "demo",
        help="simulator + director + agent with the built-in benchmark, all on loopback",
        description="Start the PTDaemon simulator (host-load signal), a director and an agent running the built-in "
        "LoadGen benchmark, all on loopback; print the result and the run folder.",
    )
    demo.add_argument("--scenario", default="Offline", choices=["Offline", "Server", "SingleStream", "MultiStream"])
    demo.add_argument("--duration", type=float, default=45.0, help="seconds per phase (default 45)")
    demo.add_argument("--settle-s", type=float, default=3.0, help="analyzer settle time (default 3 s)")
    demo.add_argument("--out", type=Path, default=Path("mlpower-demo"), help="where runs go (default mlpower-demo)")
    demo.add_argument("--gpus", default="sim:2", help="the agent's --gpus (default sim:2: two SIMULATED GPUs)")
    demo.add_argument(
        "--nodes",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="N",
        help="a system of N nodes (1 to 8; default 1): the others on simulated BMCs with node agents, serve --system",
    )


def _add_meter_probe(sub: Commands) -> None:
    probe = sub.add_parser(
        "meter-probe",
        help="connect to a meter, identify it and print five samples",
        description="Connect to a meter, identify it, read its ranges and print five samples: "
        "the first thing to run when wiring a real analyzer.",
    )
    models = ", ".join(f"{m.name} ({m.example})" for m in meter_models() if m.example)
    probe.add_argument("url", help=f"meter URL, e.g. ptd://127.0.0.1:8888; the models: {models}")
    probe.add_argument("--samples", type=int, default=5, help="how many samples to print (default 5)")
    probe.add_argument("--interval-ms", type=int, default=1000, help="sample interval (default 1000 ms)")


def _add_system_check(sub: Commands) -> None:
    check = sub.add_parser(
        "system-check",
        help="read a system description (SYSTEM.toml) and print its nodes, wall sources, tiers and interconnect",
        description="Read and check a system description (TOML: the nodes, each node's wall meter URLs, the LoadGen "
        "node, the interconnect measured or estimated) and print what it says, with each source's tier and the "
        "system's. Nothing connects. A bad file: the error, naming the file, table and key, and exit 2.",
    )
    check.add_argument("system", type=Path, metavar="SYSTEM.toml", help="the system description file")


def _add_nameplate(sub: Commands) -> None:
    plate = sub.add_parser(
        "nameplate",
        help="write MLPerf v6.1's systems/<system_id>_power.yaml from each node's Redfish power supplies, or check one",
        description="Read every node's power supplies (PowerCapacityWatts, model, serial) from its BMC through Redfish "
        "and write the nameplate power file the MLPerf submission checker sums into design_power_watts; or check a "
        "given file by the checker's rules and say what is wrong, where.",
    )
    urls = "one redfish://HOST/CHASSIS per node (its options as for a meter: protocol=, ca=, insecure=, credentials=)"
    plate.add_argument("urls", nargs="*", metavar="URL", help=urls)
    needed = "Min PSUs Needed for every node: the supplies that carry it at full load (default: the BMC's redundancy"
    plate.add_argument("--min-psus", type=int, metavar="N", help=f"{needed} group, where it publishes one)")
    plate.add_argument("--out", metavar="FILE", help="write here, e.g. systems/ID_power.yaml (default: print it)")
    plate.add_argument("--system-id", help="the file's top label (default: from --out's name, else 'system')")
    plate.add_argument("--check", metavar="FILE", help="check this file instead, as the submission checker reads it")


def _run_simulator(args: argparse.Namespace) -> int:
    from director.sim.ptd_analyzer import SimulatedAnalyzer
    from director.sim.signal import Electrical, parse_signal

    if args.channels < 1:
        print("mlpower-director ptd-sim: --channels must be at least 1", file=sys.stderr)
        return EXIT_UNREADABLE
    analyzer = SimulatedAnalyzer(
        parse_signal(args.signal),
        Electrical(nominal_v=args.volts, noise=args.noise, seed=args.seed, dc=args.dc),
        channels=args.channels,
        dc=args.dc,
    )
    simulator = PtdSimulator(analyzer, PtdLogFile(args.log), sample_log=args.sample_log)

    def announce(host: str, port: int) -> None:
        print(f"ptd-sim listening on {host}:{port} ({analyzer.model}, SIMULATED, {analyzer.signal.description})")
        print(f"try: mlpower-director meter-probe ptd://{host}:{port}", flush=True)

    serve_until_signalled(simulator, args.host, args.port, announce)
    return EXIT_OK


def _run_meter_sim(args: argparse.Namespace) -> int:
    from director.sim.signal import Electrical, parse_signal
    from director.sim.wt3xx import SIMULATED_MODELS, PtyServer, ScpiWT300

    instrument = ScpiWT300(
        parse_signal(args.signal),
        Electrical(noise=args.noise),
        garbage_every=args.garbage_every,
        model=SIMULATED_MODELS[args.model],
    )
    server = PtyServer(instrument).start()
    print(f"meter-sim: SIMULATED Yokogawa {instrument.model} on {server.path}")
    print(
        f"try: mlpower-director meter-probe 'serial://{server.path}?model={args.model}&rate=0.1' --interval-ms 100",
        flush=True,
    )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.close()
    return EXIT_OK


PROBE_REFUSED = (
    "the analyzer is measuring, most likely for a session: probe it once that session has ended. A measurement "
    "nobody runs any more is stopped by the next session, or by mlpower-director serve when it starts"
)


def _probe(args: argparse.Namespace) -> int:
    if args.interval_ms < MIN_INTERVAL_MS or args.samples < 1:
        print(
            f"mlpower-director meter-probe: need --samples >= 1 and --interval-ms >= {MIN_INTERVAL_MS}", file=sys.stderr
        )
        return EXIT_UNREADABLE
    if args.url.strip().lower().startswith("none:"):
        print("mlpower-director meter-probe: none:// means no wall meter: there is no meter to probe (give the "
              "meter's URL, e.g. ptd://HOST:8888)", file=sys.stderr)  # fmt: skip
        return EXIT_UNREADABLE
    meter = open_meter(args.url)
    with meter:
        identity = meter.identify()
        sim = "   SIMULATED" if identity.simulated else ""
        print(f"meter:   {identity.model}{sim}")
        print(f"version: {identity.version}   channels: {identity.channels}   {'DC' if identity.dc else 'AC'}")
        ranges = meter.read_ranges()
        print(f"ranges:  V {ranges.volts_v or 'Auto'}   A {ranges.amps_a or 'Auto'}")
        shown = 0
        deadline = time.monotonic() + args.samples * args.interval_ms / 1000 * 2 + 5
        try:
            meter.set_ranges(Ranges.automatic())
        except MeterErrorReply as e:  # nothing was changed: nothing to put back
            print(f"mlpower-director meter-probe: {e}\n{PROBE_REFUSED}", file=sys.stderr)
            return EXIT_ERRORS
        try:
            meter.start(f"probe_{time.strftime('%Y-%m-%d_%H-%M-%S', time.gmtime())}", args.interval_ms)
            try:
                while shown < args.samples and time.monotonic() < deadline:
                    time.sleep(args.interval_ms / 1000)
                    for sample in meter.read_new()[: args.samples - shown]:
                        print(format_spl_line(sample))
                        shown += 1
            finally:
                meter.stop()
        finally:
            meter.restore_ranges()  # put the analyzer back as the probe found it
        for bad in meter.rejected_lines:
            print(f"rejected: {bad}", file=sys.stderr)
        if meter.skipped_stale:  # a Redfish reading that had not changed since the last sample
            print(f"skipped: {meter.skipped_stale} stale reading(s) (the meter had not updated since the last "
                  "sample)", file=sys.stderr)  # fmt: skip
    if shown < args.samples:
        print(f"mlpower-director meter-probe: only {shown} of {args.samples} samples arrived", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ptd-sim":
            return _run_simulator(args)
        # the web stack and the analyzer are imported only by the commands that use them: a simulator or a
        # probe starts in a fraction of the time
        if args.command == "serve":
            from director.serve import serve_director

            return serve_director(args)
        if args.command == "demo":
            from director.demo import run_demo

            return run_demo(args)
        if args.command == "meter-sim":
            return _run_meter_sim(args)
        if args.command == "redfish-sim":
            from director.sim.redfish.server import run_redfish_sim

            return run_redfish_sim(args)
        if args.command == "system-check":
            from director.system.check import run_system_check

            return run_system_check(args)
        if args.command == "nameplate":
            from director.nameplate import run_nameplate

            return run_nameplate(args)
        if args.command == "watch":
            from director.watch_serve import run_watch

            return run_watch(args)
        return _probe(args)
    except DirectorError as e:
        print(f"mlpower-director {args.command}: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return EXIT_ERRORS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
