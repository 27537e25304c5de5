"""``mlpower-director watch``: the options checked, the logs followed, the read-only app under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from director.errors import ConfigError
from director.serve import LOOPBACK_HOSTS
from director.tokens import read_token_file
from director.watch import SampleLogFollower, Watcher, create_watch_app
from powerlog.cli_support import EXIT_OK

__all__ = ["run_watch"]


def _token(path: Path | None, host: str) -> str | None:
    if path is None:
        if host not in LOOPBACK_HOSTS:
            raise ConfigError(f"--host {host} is not loopback: give --token-file so that not anyone can read the view")
        return None
    return read_token_file(path, "--token-file ")


def _followers(logs: list[Path], utc_offset_s: float) -> list[SampleLogFollower]:
    for log in logs:
        if log.is_dir():
            raise ConfigError(f"{log} is a folder: give PTDaemon's -l sample log file(s)")
    if len(set(logs)) != len(logs):
        raise ConfigError("a sample log is named twice")
    return [SampleLogFollower(log, utc_offset_s) for log in logs]


def run_watch(args: argparse.Namespace) -> int:
    if args.interval_ms < 100 or args.idle_stop_s <= 0:
        raise ConfigError("--interval-ms must be at least 100 and --idle-stop-s above 0")
    token = _token(args.token_file, args.host)
    utc_offset_s = args.utc_offset_s if args.utc_offset_s is not None else time.localtime().tm_gmtoff
    watcher = Watcher(_followers(args.logs, utc_offset_s), args.interval_ms, args.idle_stop_s)
    app = create_watch_app(watcher, token)

    @contextlib.asynccontextmanager
    async def following(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(watcher.run())
        try:
            yield
        finally:
            watcher.stopping = True
            await task

    app.router.lifespan_context = following
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        sock.listen(socket.SOMAXCONN)
    except OSError as e:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))

    for follower in watcher.followers:
        note = "" if follower.path.is_file() else " (not there yet: waiting for it)"
        print(f"watching {follower.path}{note}")
    # listening already: a client that comes at once is queued while uvicorn starts
    print(f"watch: dashboard on http://{args.host}:{port}/ (read-only; /metrics beside it)", flush=True)
    server.run(sockets=[sock])
    return EXIT_OK
