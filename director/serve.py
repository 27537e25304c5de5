"""``mlpower-director serve``: the FastAPI app under uvicorn, with its token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import ipaddress
import resource
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from analyzer.rounds import get_round
from director.app import Director, create_app
from director.errors import ConfigError
from director.event_lines import SessionEventLines
from director.meters.base import Meter
from director.meters.group import MeterGroup
from director.meters.urls import MeterUrl, open_meter, parse_meter_url
from director.powerdev.listener import LOOPBACK, IpNetwork, PowerDevListener
from director.recovery import put_meter_back, recover_interrupted, stop_left_measuring
from director.results import analyze_run_folder
from director.runs_lock import RunsDirLock
from director.session import SessionConfig
from director.system import EstimatedInterconnect, load_system
from director.system.plan import SystemPlan, plan_system
from director.tokens import TOKEN_FILE_NAME, load_or_create_token
from powerlog.cli_support import EXIT_OK

__all__ = ["TOKEN_FILE_NAME", "abort_active_session", "check_ptd_log", "load_or_create_token", "serve_director"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class _Server(uvicorn.Server):
    def __init__(self, director: Director, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.director = director
        self.before_shutdown: list[Callable[[], Awaitable[None]]] = []
        self.stop_signal = "SIGTERM"
        self.event_lines = SessionEventLines(director)
        self._event_task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.director.stopping = True
        with contextlib.suppress(ValueError):
            self.stop_signal = signal.Signals(sig).name
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._event_task = asyncio.create_task(self.event_lines.run())
        self._lag_task = asyncio.create_task(self.director.loop_lag.run())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # here, not after serve() returns: uvicorn re-raises a captured SIGTERM once serve() is done, and the
        # default handler then ends the process before any code after it runs
        for hook in self.before_shutdown:
            await hook()
        await abort_active_session(self.director, f"director stopped ({self.stop_signal})")
        for task in (self._event_task, self._lag_task):
            if task is not None:
                task.cancel()
        self.event_lines.flush()
        await super().shutdown(sockets)


async def abort_active_session(director: Director, reason: str) -> None:
    """The session measuring now, if any, ends failed with ``reason``: the meter stopped, what was written kept."""
    session = director.active
    if session is not None and not session.ended:
        await session.abort(reason)


def _meter(urls: list[MeterUrl], interval_ms: int) -> Meter:
    """One meter, or several summed as channels of one (each session gets its own, unconnected)."""
    if len(urls) == 1:
        return open_meter(urls[0])
    return MeterGroup([open_meter(url) for url in urls], interval_ms)


def _tls(args: argparse.Namespace) -> dict[str, Any]:
    """uvicorn's TLS settings, checked now so that a wrong file is a clear error, not a failed handshake later."""
    cert, key = args.tls_cert, args.tls_key
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot use --tls-cert {cert} with --tls-key {key}: {e}") from e
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def _system_plan(args: argparse.Namespace) -> SystemPlan | None:
    """``--system``: the file read and planned (each error names file, table and key); None for ``--meter``."""
    if args.system is None:
        return None
    return plan_system(load_system(args.system))


def serve_director(args: argparse.Namespace) -> int:
    plan = _system_plan(args)
    meter_urls = list(plan.session_meter_urls) if plan is not None else [parse_meter_url(t) for t in args.meter]
    if len(meter_urls) > 1 and any(url.scheme == "none" for url in meter_urls):
        raise ConfigError("none:// means no wall meter: give it alone, not beside another --meter")
    intervals_ms = {url.interval_ms for url in meter_urls}
    if len(intervals_ms) != 1:
        raise ConfigError(
            "the meters sample at different intervals ("
            + ", ".join(f"{u.text}: {u.interval_ms} ms" for u in meter_urls)
            + "): give each serial meter the same rate= (PTDaemon reads once a second: rate=1)"
        )
    interval_ms = intervals_ms.pop()
    meter_text = " + ".join(url.text for url in meter_urls)
    if plan is not None:
        _say_plan(plan)
    round_name = args.round  # None: each run's round is detected, as mlpower-analyzer does
    if round_name is not None:
        get_round(round_name)
    tls = _tls(args)
    power_dev = _power_dev_options(args)
    ptd_log_warning = check_ptd_log(args.ptd_log, meter_urls)
    runs_dir: Path = args.out
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create --out {runs_dir}: {e.strerror or e}") from e
    # the folder, then the port, both held before anything is written or recovered: a second serve on the same
    # folder or port must leave the first one's sessions, token and meter alone
    lock = RunsDirLock(runs_dir)
    lock.acquire()
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    lock.describe(f"{host}:{port}")
    token, token_path, token_note = load_or_create_token(args, runs_dir)
    interrupted = recover_interrupted(runs_dir)
    meter_notes = [put_meter_back(i, meter_text, lambda: _meter(meter_urls, interval_ms)) for i in interrupted]
    left_measuring = [stop_left_measuring(meter_text, lambda: _meter(meter_urls, interval_ms))]
    left_measuring += [stop_left_measuring(m.url, m.open_meter) for m in plan.wall_meters] if plan is not None else []
    config = SessionConfig(
        runs_dir=runs_dir, settle_s=args.settle_s, ptd_log=args.ptd_log, interval_ms=interval_ms, lease_s=args.lease_s
    )
    director = Director(
        meter_factory=lambda: _meter(meter_urls, interval_ms),
        meter_url=meter_text,
        config=config,
        token=token,
        analyze=functools.partial(analyze_run_folder, round_name=round_name),
        wall_meters=plan.wall_meters if plan is not None else (),
        system=plan.record if plan is not None else None,
    )
    director.interrupted = {i.session_id: i for i in interrupted}
    loopback = args.host in LOOPBACK_HOSTS
    director.read_without_token = loopback
    app = create_app(director)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    how = f"--token-file {token_path}" if token_path else "--token <the token you gave>"
    print(f"director listening on {url} (meter {meter_text}, runs in {runs_dir})")
    print(f"dashboard: {url}/" + ("" if loopback else " (asks for the token)"))
    print(token_note)
    for i, meter_note in zip(interrupted, meter_notes, strict=True):
        print(f"recovered: session {i.session_id} was {i.state} when the director stopped; marked interrupted, "
              f"data kept in {i.folder}; meter: {meter_note}")  # fmt: skip
    for line in filter(None, left_measuring):
        print(line)
    if tls:
        how += f" --ca-file {args.tls_cert}"
    print(f"agent: mlpower-agent run --director {url} {how} --benchmark builtin --scenario Offline", flush=True)
    if not loopback:
        print(f"warning: listening on {args.host}, not loopback: anyone who can reach it needs only the token",
              file=sys.stderr)  # fmt: skip
    if ptd_log_warning:
        print(f"warning: {ptd_log_warning}", file=sys.stderr, flush=True)
    # live-view streams end as soon as shutdown starts; the rest gets a few seconds to finish
    uvicorn_config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5, **tls)
    server = _Server(director, uvicorn_config)
    _raise_open_file_limit()
    _freeze_startup_heap()
    try:
        if power_dev is None:
            server.run(sockets=[sock])
        else:
            # the loop uvicorn's own run() would use (uvloop when installed), with power-dev's listener beside it
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(_serve_with_power_dev(server, sock, PowerDevListener(director, power_dev[2]), power_dev))
    finally:
        lock.release()
    return EXIT_OK


def _raise_open_file_limit() -> None:
    """The soft limit on open files up to the hard one: a rack's director holds a journal open per node GPU series
    (72 nodes x 8 GPUs x power and energy: 1,152) beside its sockets, and the usual soft limit is 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, 1 << 16) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _freeze_startup_heap() -> None:
    """Take what start-up made (modules, the app, its schemas: about 90,000 objects) out of the garbage collector's
    view. A full collection stops the event loop while it walks every tracked object; these live as long as the
    director does and are never garbage, yet with them a full collection took 90 to 400 ms under a rack's load
    (bench_rack, 72 nodes, 2 cores) and every request waited behind it. Cycles made later are still collected."""
    gc.collect()
    gc.freeze()


def _say_plan(plan: SystemPlan) -> None:
    description = plan.description
    print(f"system {description.name} from {description.described_by}: {len(description.nodes)} node(s), "
          f"LoadGen node {description.loadgen_node} on {plan.session_meter_text}")  # fmt: skip
    for meter in plan.wall_meters:
        print(f"  wall meter {meter.key}: {meter.url} (nodes {', '.join(meter.nodes)}; every {meter.interval_ms} ms)")
    interconnect = description.interconnect
    if isinstance(interconnect, EstimatedInterconnect):
        print(f"  interconnect ESTIMATED: {interconnect.max_power_w:g} W x {interconnect.share:g} = "
              f"{interconnect.power_w:g} W ({interconnect.note})")  # fmt: skip


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: "address in use" is known before anything is written."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no Nagle delay
    try:
        sock.bind((host, port))
        # listening before "director listening" is printed: a client that connects at once is queued, not
        # refused while uvicorn is still starting (it serves this socket as it is)
        sock.listen(socket.SOMAXCONN)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    return sock


def check_ptd_log(ptd_log: Path | None, meter_urls: list[MeterUrl]) -> str | None:
    """``--ptd-log`` must be PTDaemon's debug log (its console output), not its ``-l`` sample log: a
    :class:`ConfigError` for a sample log; a warning to print when a PTDaemon meter has no ``--ptd-log``."""
    if ptd_log is None:
        if any(url.scheme == "ptd" for url in meter_urls):
            return (
                "no --ptd-log: each run's power/ptd_logs.txt will be empty and the official check's 10.activated "
                "will fail; give PTDaemon's debug log (its console output redirected to a file)"
            )
        return None
    try:
        with ptd_log.open("rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        return None  # PTDaemon may not have started yet
    except OSError as e:
        raise ConfigError(f"cannot read --ptd-log {ptd_log}: {e.strerror or e}") from e
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    if first.startswith(b"Time,") and b",Watts," in first:
        raise ConfigError(
            f"--ptd-log {ptd_log} is PTDaemon's sample log (the -l file: Time,...,Watts,... lines); --ptd-log wants "
            "PTDaemon's debug log (its console output redirected to a file), which becomes power/ptd_logs.txt"
        )
    return None


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it: asyncio's own loop
        return None
    return uvloop.new_event_loop


def _power_dev_options(args: argparse.Namespace) -> tuple[str, int, tuple[IpNetwork, ...]] | None:
    """``--power-dev-listen`` and ``--power-dev-allow``, checked before anything starts."""
    if args.power_dev_listen is None:
        if args.power_dev_allow:
            raise ConfigError("--power-dev-allow needs --power-dev-listen HOST:PORT")
        return None
    host, sep, port_text = args.power_dev_listen.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(f"--power-dev-listen {args.power_dev_listen!r}: expected HOST:PORT, e.g. 127.0.0.1:4951")
    host = host.strip("[]")
    try:
        allow = tuple(ipaddress.ip_network(c, strict=False) for c in args.power_dev_allow or ())
    except ValueError as e:
        raise ConfigError(f"--power-dev-allow: {e}") from e
    if not allow and host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"--power-dev-listen {args.power_dev_listen}: power-dev's protocol has no authentication; "
            "name who may connect with --power-dev-allow CIDR... or listen on 127.0.0.1"
        )
    return host, int(port_text), allow or LOOPBACK


async def _serve_with_power_dev(
    server: _Server,
    sock: socket.socket,
    listener: PowerDevListener,
    options: tuple[str, int, tuple[IpNetwork, ...]],
) -> None:
    host, port, allow = options
    try:
        bound_host, bound_port = await listener.start(host, port)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} for power-dev: {e.strerror or e}") from e
    print(
        f"power-dev listener on {bound_host}:{bound_port} (protocol v3, no authentication; allowed: "
        f"{', '.join(str(n) for n in allow)})",
        flush=True,
    )
    server.before_shutdown.append(listener.close)
    await server.serve(sockets=[sock])
