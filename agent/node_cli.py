"""``mlpower-agent node``: its command line, and the command that runs a node agent until it is stopped."""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.components.sysfs_source import open_components
from agent.errors import AgentError
from agent.gpu.select import GPU_SPECS, open_gpus
from agent.gpu.simulated import SimulatedGpus
from agent.node import NodeOptions, run_node
from agent.node_client import NodeClient
from agent.signals import exit_status
from powerlog.cli_support import EXIT_OK
from powerlog.tokens import MIN_TOKEN_CHARS, token_argument
from powerlog.wire import NODE_NAME_PATTERN

__all__ = ["add_node_parser", "node_command"]

MAX_SKEW_MS = 3_600_000.0  # an hour: the director refuses offsets beyond a day anyway


def _node_name(text: str) -> str:
    if not re.fullmatch(NODE_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: 1 to 64 letters, digits, _ - and . (not starting with a dot): it names the node's folder"
        )
    return text


def add_node_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser(
        "node",
        help="stream this node's GPUs and components into every session (a node beside the LoadGen one)",
        description="Run on every node of a multi-node system other than the LoadGen one: wait for a session on "
        "the director, join it, measure this node's clock offset to the director, stream the node's GPUs and "
        "components into it, and wait for the next one. Stop it with Ctrl-C or SIGTERM.",
        usage="mlpower-agent node --director URL (--token T | --token-file F) --name NODE [--gpus SPEC] "
        "[--components SPEC] [--gpu-rate-hz HZ] [--component-rate-hz HZ] [--sessions N] [--simulated-clock-skew-ms MS]",
    )
    node.add_argument("--director", required=True, help="director URL, e.g. http://10.0.0.1:4950")
    token = node.add_mutually_exclusive_group(required=True)
    token.add_argument(
        "--token", type=token_argument, help=f"the director's bearer token (at least {MIN_TOKEN_CHARS} characters)"
    )
    token.add_argument("--token-file", type=Path, help="file holding the director's token")
    node.add_argument("--name", required=True, type=_node_name, help="this node's name (its folder in the run)")
    node.add_argument("--gpus", default="auto", help=f"GPUs to sample: {GPU_SPECS} (sim:N: N SIMULATED GPUs)")
    node.add_argument("--gpu-rate-hz", type=float, default=10.0, help="GPU power polling rate (default 10, max 100)")
    node.add_argument(
        "--components", default="none", help="component power: auto, rapl, hwmon, names, or none (default)"
    )
    node.add_argument("--component-rate-hz", type=float, default=10.0, help="component rate (default 10, max 100)")
    node.add_argument("--ca-file", type=Path, help="trust this certificate (PEM) for an https director")
    node.add_argument("--sessions", type=int, help="leave after streaming into this many sessions (default: never)")
    node.add_argument(
        "--simulated-clock-skew-ms",
        type=float,
        default=0.0,
        help="for tests: read a clock this far off the machine's (SIMULATED GPUs only; the run is marked SIMULATED)",
    )


def _skewed_clock(skew_ms: float) -> Callable[[], int]:
    skew_ns = round(skew_ms * 1e6)
    return lambda: time.time_ns() + skew_ns


def node_command(args: argparse.Namespace, token: str) -> int:
    """Run the node agent until a signal (or ``--sessions``) stops it."""
    skew_ms = float(args.simulated_clock_skew_ms)
    if abs(skew_ms) > MAX_SKEW_MS:
        raise AgentError(f"--simulated-clock-skew-ms {skew_ms:g}: at most {MAX_SKEW_MS:g} ms either way")
    gpus = open_gpus(args.gpus, print)
    components = open_components(args.components)
    clock_ns = _skewed_clock(skew_ms) if skew_ms else time.time_ns
    if skew_ms:
        if not isinstance(gpus, SimulatedGpus) or components is not None:
            raise AgentError("--simulated-clock-skew-ms needs --gpus sim:N and no --components (a real sensor "
                             "reads the machine's own clock)")  # fmt: skip
        gpus.clock_ns = clock_ns
        print(f"SIMULATED clock: {skew_ms:+g} ms off this machine's")
    options = NodeOptions(args.name, gpus, args.gpu_rate_hz, components, args.component_rate_hz,
                          simulated_clock=bool(skew_ms), max_sessions=args.sessions)  # fmt: skip
    stop = threading.Event()
    client = NodeClient(args.director, token, args.name, ca_file=args.ca_file, clock_ns=clock_ns)
    try:
        outcome = run_node(options, client, stop, lambda line: print(line, flush=True), clock_ns=clock_ns)
    except KeyboardInterrupt as e:
        stop.set()
        name = getattr(e, "signal_name", "SIGINT")
        print(f"mlpower-agent node {args.name}: stopped by {name}", file=sys.stderr)
        return exit_status(e)
    finally:
        client.close()
    print(f"node {args.name}: streamed into {len(outcome.sessions)} session(s)")
    return EXIT_OK
