"""``mlpower-ptd``: the PTDaemon simulator behind SPEC PTDaemon's own command line.

MLCommons power-dev starts PTDaemon itself (``ptd:`` in its server.conf) as

    ptd -l SAMPLE_LOG -p PORT [-b BOARD] [-c CHANNELS] [-D] [-n|-g|-y|-U] DEVICE_TYPE DEVICE_PORT

reads the ``-l`` file (every sample as an spl.txt line, with its mark) to pick the testing ranges,
and saves PTDaemon's standard output, its debug log, as power/ptd_logs.txt. ``mlpower-ptd`` takes
that command line, so power-dev can run against

- a SIMULATED analyzer of the given device type, which says so (Identify reply, log), when
  ``DEVICE_PORT`` is a port name such as ``COM1`` or ``/dev/ttyUSB0`` (recorded, not opened);
- a real Yokogawa read through mlpower's drivers when ``DEVICE_PORT`` is an mlpower meter URL
  (``serial:///dev/ttyUSB0?model=wt310``, ``serial+socket://HOST:PORT?model=wt310``, or ``sim://`` for
  mlpower's simulated serial analyzer): a PTDaemon-protocol server with no SPEC licence, whose
  Identify reply says mlpower-ptd, not SPEC PTDaemon.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from director.errors import DirectorError
from director.meters.registry import meter_models
from director.meters.scpi import SerialScpiMeter
from director.meters.urls import model_of_url, open_meter, parse_meter_url
from director.ptd_front.instrument import PtdInstrument
from director.ptd_front.meter_instrument import MeterInstrument
from director.ptd_front.server import PtdLogFile, PtdSimulator, serve_until_signalled
from powerlog.cli_support import EXIT_OK, EXIT_UNREADABLE, version_string
from powerlog.ptd_identity import ACCEPTED_ANALYZERS, channel_selection, device_type_of

if TYPE_CHECKING:
    from director.sim.ptd_analyzer import SimulatedAnalyzer

__all__ = [
    "DEVICE_MODELS",
    "DEVICE_NAMES",
    "build_parser",
    "main",
    "meter_instrument",
    "served_url_models",
    "simulated_analyzer",
]


# PTDaemon's device type numbers of the analyzers the power rules accept, with the simulator's model name
# and the name PTDaemon gives each in its Identify reply (YokogawaWT310 for 49, not WT310E)
DEVICE_NAMES: dict[int, str] = {}
for _name, _number in ACCEPTED_ANALYZERS.items():
    DEVICE_NAMES.setdefault(_number, _name)
DEVICE_MODELS = {number: "Simulated" + name.removeprefix("Yokogawa") for number, name in DEVICE_NAMES.items()}
DEFAULT_CHANNELS = 2  # a multichannel analyzer started without -c


class UsageError(DirectorError, ValueError):
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
    simulated = p.add_argument_group("the simulated analyzer (DEVICE_PORT a port name)")
    simulated.add_argument("--signal", default="host-load", help="host-load (default), constant:WATTS or csv:PATH")
    simulated.add_argument("--noise", type=float, default=0.01, help="relative noise on watts (default 0.01)")
    simulated.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("device_type", type=int, metavar="DEVICE_TYPE", help=f"one of {', '.join(map(str, DEVICE_MODELS))}")
    p.add_argument(
        "device_port",
        metavar="DEVICE_PORT",
        help="a port name (COM1, /dev/ttyUSB0: recorded, the analyzer is SIMULATED) or an mlpower meter URL "
        "(serial:///dev/ttyUSB0?model=wt310, serial+socket://HOST:PORT?model=wt310, sim://?model=wt310): that "
        f"analyzer, read by mlpower's driver (model= one of {', '.join(served_url_models())})",
    )
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
    from director.sim.ptd_analyzer import SimulatedAnalyzer  # the simulator, only when one is asked for
    from director.sim.signal import Electrical, parse_signal

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


def _simulated_analyzer_class() -> type[SimulatedAnalyzer]:
    from director.sim.ptd_analyzer import SimulatedAnalyzer

    return SimulatedAnalyzer


def is_meter_url(device_port: str) -> bool:
    return "://" in device_port


def meter_instrument(args: argparse.Namespace) -> MeterInstrument:
    """The analyzer a meter URL names, opened, identified and its ranges read; it must be the device type's
    model. Raises :class:`UsageError` or the driver's :class:`~director.errors.MeterError` (closed again)."""
    if args.device_type not in DEVICE_NAMES:
        raise UsageError(f"device type {args.device_type} is not one the power rules accept: use one of "
                         f"{', '.join(map(str, DEVICE_NAMES))}")  # fmt: skip
    url = parse_meter_url(args.device_port)
    if url.scheme == "ptd":
        raise UsageError(f"{args.device_port}: that is already a PTDaemon; connect to it directly")
    model = model_of_url(url)
    meter = open_meter(url)
    if not model.device_types or not isinstance(meter, SerialScpiMeter):
        raise UsageError(f"{args.device_port}: a {model.name} is not an analyzer PTDaemon serves: use a serial "
                         f"analyzer ({', '.join(served_url_models())})")  # fmt: skip
    meter.open()
    try:
        identity = meter.identify()
        meter.read_ranges()
        served_type = device_type_of(identity.model, identity.channels, identity.dc)
        if served_type != args.device_type:
            raise UsageError(
                f"device type {args.device_type} is a {DEVICE_NAMES[args.device_type]}, but {args.device_port} is "
                f"a {identity.model} with {identity.channels} element(s): start it as device type {served_type}"
            )
        return MeterInstrument(meter, DEVICE_NAMES[args.device_type], args.device_port)
    except BaseException:
        meter.close()
        raise


def served_url_models() -> list[str]:
    """The ``model=`` names of the declared analyzers ``mlpower-ptd`` can serve (a serial SCPI analyzer)."""
    return [name for m in meter_models() if "serial" in m.schemes for name in m.url_models]


def _startup_line(args: argparse.Namespace, analyzer: PtdInstrument) -> str:
    if not isinstance(analyzer, MeterInstrument):
        assert isinstance(analyzer, _simulated_analyzer_class())
        return (
            f"mlpower-ptd: SIMULATED {analyzer.yokogawa_model} (device type {args.device_type}, {analyzer.channels} "
            f"channel(s), port {args.device_port!r} not opened), signal: {analyzer.signal.description}"
        )
    return (
        f"mlpower-ptd: {analyzer.yokogawa_model} on {args.device_port} (device type {args.device_type}, "
        f"{analyzer.channels} channel(s)), read by mlpower's driver"
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        analyzer: PtdInstrument = meter_instrument(args) if is_meter_url(args.device_port) else simulated_analyzer(args)
    except (UsageError, DirectorError) as e:  # a bad flag, device type, -c, --signal or meter
        print(f"mlpower-ptd: {e}", file=sys.stderr)
        print("usage: mlpower-ptd -l SAMPLE_LOG -p PORT [-b BOARD] [-c CHANNELS] [-D] [-n|-g|-y|-U] "
              "DEVICE_TYPE DEVICE_PORT (mlpower-ptd -h for more)", file=sys.stderr)  # fmt: skip
        return EXIT_UNREADABLE
    # the debug log goes to stdout, as PTDaemon's does; the samples to the -l file
    log = PtdLogFile(None, stream=sys.stdout)
    log.raw(_startup_line(args, analyzer))
    try:
        serve_until_signalled(PtdSimulator(analyzer, log, sample_log=args.sample_log), args.host, args.port)
    except DirectorError as e:
        print(f"mlpower-ptd: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        if isinstance(analyzer, MeterInstrument):
            _put_back(analyzer, log)
    return EXIT_OK


def _put_back(analyzer: MeterInstrument, log: PtdLogFile) -> None:
    """Leave the analyzer as it was found: measurement stopped, the ranges it had at start, port closed."""
    try:
        analyzer.halt()
        analyzer.meter.restore_ranges()
    except DirectorError as e:
        log.event(f"WARNING: could not restore the analyzer's ranges: {e}")
    finally:
        analyzer.meter.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
