"""The simulated BMC served on a real socket: uvicorn in a thread, HTTP or HTTPS with a certificate made at start.

:class:`RedfishSimServer` is what the tests and ``mlpower-director redfish-sim`` run; :func:`meter_url` is the
``redfish://`` URL that reads it (one per chassis where it serves several). The certificate is self-signed for
the listening address (and ``localhost``), made with the ``openssl`` command into a temporary folder that is
removed at :meth:`stop`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self
from urllib.parse import quote

import uvicorn

from director.errors import ConfigError
from director.sim.redfish.app import SimAuth, SimFaults, create_app
from director.sim.redfish.device import CHASSIS_ID, SimulatedBmc
from director.sim.signal import Electrical, parse_signal
from powerlog.cli_support import EXIT_OK

__all__ = ["RedfishSimServer", "chassis_ids", "run_redfish_sim", "self_signed_certificate"]

START_TIMEOUT_S = 20.0
MAX_CHASSIS = 1024


def chassis_ids(count: int) -> list[str]:
    """The chassis of ``redfish-sim --chassis COUNT``: the one BMC's usual id, or ``C1`` to ``C<COUNT>``."""
    return [CHASSIS_ID] if count == 1 else [f"C{i}" for i in range(1, count + 1)]


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key): a self-signed certificate for ``host`` and localhost, valid two days (PEM files)."""
    if shutil.which("openssl") is None:
        raise ConfigError("redfish-sim --https needs the openssl command to make its certificate")
    cert, key = folder / "redfish-sim.crt", folder / "redfish-sim.key"
    names = {"IP:127.0.0.1", "DNS:localhost", f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host
             else f"DNS:{host}"}  # fmt: skip
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/O=mlpower/CN=mlpower redfish-sim SIMULATED",
             "-addext", "subjectAltName=" + ",".join(sorted(names)), "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        detail = e.stderr.strip().splitlines()[-1:] if isinstance(e, subprocess.CalledProcessError) else ["timeout"]
        raise ConfigError(f"openssl could not make the simulator's certificate: {' '.join(detail)}") from e
    return cert, key


class RedfishSimServer:
    """A :class:`SimulatedBmc` answering Redfish on ``host:port`` (0: a free port) until :meth:`stop`; or several,
    each its own chassis, behind one service (as a multi-node enclosure's BMC, or a rack's BMCs in one process)."""

    def __init__(
        self,
        bmc: SimulatedBmc | Sequence[SimulatedBmc],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = False,
        auth: SimAuth | None = None,
        faults: SimFaults | None = None,
    ) -> None:
        self.bmcs = [bmc] if isinstance(bmc, SimulatedBmc) else list(bmc)
        self.bmc = self.bmcs[0]
        self.host = host
        self.port = port
        self.https = https
        self.auth = auth or SimAuth()
        self.faults = faults or SimFaults()
        self.cert_path: Path | None = None
        self._key_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> Self:
        tls: dict[str, str] = {}
        if self.https:
            if self._tmp is None:  # a restarted server keeps its certificate, as a rebooted BMC does
                self._tmp = tempfile.TemporaryDirectory(prefix="mlpower-redfish-sim-")
                self.cert_path, self._key_path = self_signed_certificate(Path(self._tmp.name), self.host)
            tls = {"ssl_certfile": str(self.cert_path), "ssl_keyfile": str(self._key_path)}
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no Nagle delay
        try:
            sock.bind((self.host, self.port))
            sock.listen(socket.SOMAXCONN)
        except OSError as e:
            sock.close()
            raise ConfigError(f"redfish-sim cannot listen on {self.host}:{self.port}: {e.strerror or e}") from e
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.bmcs, self.auth, self.faults), log_config=None, log_level="warning", access_log=False,
            timeout_graceful_shutdown=1, timeout_keep_alive=30, **tls,  # type: ignore[arg-type]
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="redfish-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"redfish-sim did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self, remove_certificate: bool = True) -> None:
        """Stop serving (connections are closed); ``remove_certificate=False`` keeps it for a :meth:`start`."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if remove_certificate and self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{netloc}:{self.port}"

    def meter_url(self, rate_s: float | None = None, chassis: str | None = None, **options: str) -> str:
        """The ``redfish://`` URL that reads this simulator's ``chassis`` (None: the first): ``protocol=http``, or
        ``ca=`` its certificate (unless ``insecure`` is given), the rate and any further options."""
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        query: dict[str, str] = {}
        if not self.https:
            query["protocol"] = "http"
        elif "insecure" not in options and self.cert_path is not None:
            query["ca"] = str(self.cert_path)
        if rate_s is not None:
            query["rate"] = f"{rate_s:g}"
        query.update(options)
        text = "&".join(f"{k}={quote(v, safe='/:')}" for k, v in query.items())
        return f"redfish://{netloc}:{self.port}/{chassis or self.bmc.chassis_id}" + (f"?{text}" if text else "")


def run_redfish_sim(args: argparse.Namespace) -> int:
    """``mlpower-director redfish-sim``: serve until SIGINT or SIGTERM."""
    if (args.user is None) != (args.password is None):
        raise ConfigError("give both --user and --password (or neither: no authentication)")
    if args.rate <= 0 or args.supplies < 1:
        raise ConfigError("--rate must be positive and --supplies at least 1")
    if not 1 <= args.chassis <= MAX_CHASSIS:
        raise ConfigError(f"--chassis must be 1 to {MAX_CHASSIS}")
    if args.psu_capacity_w <= 0 or not 1 <= (args.psu_min_needed or 1) <= args.supplies:
        raise ConfigError("--psu-capacity-w must be positive and --psu-min-needed 1 to --supplies")
    bmcs = [SimulatedBmc(
        parse_signal(args.signal),
        Electrical(noise=args.noise),
        supplies=args.supplies,
        update_s=args.rate,
        stale_after_s=args.stale_after,
        legacy_only=args.legacy_only,
        freshness=args.freshness,
        psu_capacity_w=args.psu_capacity_w,
        psu_min_needed=args.psu_min_needed,
        chassis_id=chassis_ids(args.chassis)[i],
        phase_s=args.rate * i / args.chassis,  # a rack's BMCs run on their own clocks: their updates do not coincide
    ) for i in range(args.chassis)]  # fmt: skip
    bmc = bmcs[0]
    auth = SimAuth(args.user, args.password, sessions=not args.no_sessions)
    faults = SimFaults(slow_s=args.slow_s, auth_fault=args.auth_fault)
    server = RedfishSimServer(bmcs, host=args.host, port=args.port, https=args.https, auth=auth, faults=faults)
    server.start()
    try:
        shape = "Power only (legacy)" if args.legacy_only else f"{args.supplies} power supplies"
        if args.chassis > 1:
            shape += f" each, {args.chassis} chassis"
        print(f"redfish-sim: SIMULATED Redfish BMC at {server.base_url}/redfish/v1 ({shape}, readings update "
              f"every {args.rate:g} s, {bmc.signal.description})")  # fmt: skip
        if server.cert_path is not None:
            print(f"certificate: {server.cert_path} (self-signed, made now: ca= trusts it, insecure=1 takes any)")
        if args.user is not None:
            print(f"credentials: set MLPOWER_REDFISH_USER={args.user} and MLPOWER_REDFISH_PASSWORD to the --password "
                  "given, or put both in a file and add credentials=FILE")  # fmt: skip
        for chassis in chassis_ids(args.chassis):
            url = server.meter_url(args.rate, chassis)
            print(f"meter URL: {url}")
        print(
            f"try: mlpower-director meter-probe '{url}' --interval-ms {max(100, round(args.rate * 1000))}", flush=True
        )
        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        stopped.wait()
    finally:
        server.stop()
    return EXIT_OK
