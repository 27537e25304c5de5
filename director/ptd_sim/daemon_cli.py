"""``mlpower-ptd``: the PTDaemon simulator behind SPEC PTDaemon's own command line.

MLCommons power-dev starts PTDaemon itself (``ptd:`` in its server.conf) as

    ptd -l SAMPLE_LOG -p PORT [-b BOARD] [-c CHANNELS] [-D] [-n|-g|-y|-U] DEVICE_TYPE DEVICE_PORT

reads the ``-l`` file (every sample as an spl.txt line, with its mark) to pick the testing ranges,
and saves PTDaemon's standard output, its debug log, as power/ptd_logs.txt. ``mlpower-ptd`` takes
that command line, so power-dev can run against a simulated analyzer of the given device type. The
analyzer is SIMULATED and says so (Identify reply, log); ``DEVICE_PORT`` is recorded, not opened.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from director.errors import DirectorError
from director.ptd_sim.instrument import SimulatedAnalyzer
from director.ptd_sim.server import PtdLogFile, PtdSimulator, serve_until_signalled
from director.ptd_sim.signal import Electrical, parse_signal
from powerlog.cli_support import EXIT_OK, EXIT_UNREADABLE, version_string
from powerlog.ptd_identity import ACCEPTED_ANALYZERS, channel_selection

__all__ = ["DEVICE_MODELS", "build_parser", "main", "simulated_analyzer"]


# PTDaemon's device type numbers of the analyzers the power rules accept, with the simulator's model name
DEVICE_MODELS: dict[int, str] = {}
for _name, _number in ACCEPTED_ANALYZERS.items():
    DEVICE_MODELS.setdefault(_number, "Simulated" + _name.removeprefix("Yokogawa"))  # WT310 for 49, not WT310E
DEFAULT_CHANNELS = 2  # a multichannel analyzer started without -c


class UsageError(ValueError):
    """The command line is not one PTDaemon would take."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mlpower-ptd",
        description="SPEC PTDaemon's command line in front of a SIMULATED analyzer (for power-dev's server.conf "
        "'ptd:'). Debug log on stdout, samples in the -l file.",
        add_help=True,
    )
    p.add_argument("--version", action="version", version=version_string("mlpower-ptd"))
    p.add_argument("-l", dest="sample_log", type=Path, metavar="SAMPLE_LOG", help="write every sample here")
    p.add_argument("-p", dest="port", type=int, default=8888, metavar="PORT", help="TCP port (default 8888)")
    p.add_argument(
        "-i", dest="host", default="127.0.0.1", metavar="IP", help="address to listen on (default 127.0.0.1)"
    )
    p.add_argument("-b", dest="board", type=int, metavar="BOARD", help="GPIB board number (recorded)")
    p.add_argument("-c", dest="channels", metavar="CHANNELS", help="channels: 'start,count' (WT330), 'count' (WT500)")
    p.add_argument("-D", dest="dc", action="store_true", help="DC measurement")
    interface = p.add_mutually_exclusive_group()
    for flag, what in (("-n", "TCP/IP"), ("-g", "GPIB"), ("-y", "Yokogawa TMCTL (USB/ethernet)"), ("-U", "USB")):
        interface.add_argument(flag, dest="interface", action="store_const", const=flag, help=f"{what} interface")
    p.add_argument("--signal", default="host-load", help="host-load (default), constant:WATTS or csv:PATH")
    p.add_argument("--noise", type=float, default=0.01, help="relative noise on watts (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("device_type", type=int, metavar="DEVICE_TYPE", help=f"one of {', '.join(map(str, DEVICE_MODELS))}")
    p.add_argument("device_port", metavar="DEVICE_PORT", help="the analyzer's port (recorded; nothing is opened)")
    return p


def channel_count(device_type: int, channels: str | None) -> int:
    """How many channels the simulated analyzer has, from ``-c`` as power-dev passes it."""
    if "_multichannel" not in DEVICE_MODELS[device_type]:
        if channels is not None and len(channels.split(",")) != 1:
            raise UsageError(f"-c {channels}: a single-channel analyzer takes one channel number")
        return 1
    if channels is None:
        return DEFAULT_CHANNELS
    try:
        numbers = [int(x) for x in channels.split(",")]
    except ValueError:
        raise UsageError(f"-c {channels}: channel numbers are integers separated by a comma") from None
    if any(n < 1 for n in numbers):
        raise UsageError(f"-c {channels}: channel numbers start at 1")
    start, count = channel_selection(device_type, numbers)
    if start != 1:
        # power-dev then looks for labels Ch<start>...; the simulator numbers its channels from 1
        raise UsageError(f"-c {channels}: the simulated analyzer's channels start at 1 (use -c 1,{max(count, 1)})")
    return max(count, 1)  # a lone channel number: the multichannel analyzer in single-channel mode


def simulated_analyzer(args: argparse.Namespace) -> SimulatedAnalyzer:
    if args.device_type not in DEVICE_MODELS:
        raise UsageError(
            f"device type {args.device_type} is not simulated; use one of "
            + ", ".join(f"{n} ({m.removeprefix('Simulated')})" for n, m in DEVICE_MODELS.items())
        )
    model = DEVICE_MODELS[args.device_type]
    dc = model.endswith("_DC") or args.dc
    return SimulatedAnalyzer(
        parse_signal(args.signal),
        Electrical(noise=args.noise, seed=args.seed, dc=dc),
        channels=channel_count(args.device_type, args.channels),
        dc=dc,
        model=model,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        analyzer = simulated_analyzer(args)
    except (UsageError, DirectorError) as e:  # a bad flag, device type, -c or --signal
        print(f"mlpower-ptd: {e}", file=sys.stderr)
        print("usage: mlpower-ptd -l SAMPLE_LOG -p PORT [-b BOARD] [-c CHANNELS] [-D] [-n|-g|-y|-U] "
              "DEVICE_TYPE DEVICE_PORT (mlpower-ptd -h for more)", file=sys.stderr)  # fmt: skip
        return EXIT_UNREADABLE
    # the debug log goes to stdout, as PTDaemon's does; the samples to the -l file
    log = PtdLogFile(None, stream=sys.stdout)
    log.raw(
        f"mlpower-ptd: SIMULATED {analyzer.yokogawa_model} (device type {args.device_type}, {analyzer.channels} "
        f"channel(s), port {args.device_port!r} not opened), signal: {analyzer.signal.description}"
    )
    try:
        serve_until_signalled(PtdSimulator(analyzer, log, sample_log=args.sample_log), args.host, args.port)
    except DirectorError as e:
        print(f"mlpower-ptd: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
