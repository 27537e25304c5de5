"""Fixtures shared by every test folder: the published v2.1 result folders, a copy a test may damage, the PTDaemon
simulator process, the headless browser and the hardware-test options."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from powerlog.cli_support import stop_process
from tests.support.paths import FIXTURES


@pytest.fixture(params=sorted(FIXTURES))
def fixture_dir(request: pytest.FixtureRequest) -> Path:
    return FIXTURES[request.param]


@pytest.fixture
def copy_fixture(tmp_path: Path):
    """Copy a fixture folder into tmp_path so a test can damage it."""

    def copy(name: str) -> Path:
        target = tmp_path / name / "performance"
        shutil.copytree(FIXTURES[name], target)
        return target

    return copy


class SimProcess:
    """A ``mlpower-director ptd-sim`` subprocess on a free loopback port."""

    def __init__(self, process, host: str, port: int, log_path: Path) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"ptd://{self.host}:{self.port}"

    def stop(self) -> None:
        stop_process(self.process, timeout_s=10)


@pytest.fixture
def ptd_sim(tmp_path: Path):
    """Start simulators: ``ptd_sim("--channels", "2", ...)``; all are stopped after the test."""
    import subprocess
    import sys

    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        log_path = tmp_path / f"ptd_logs_{len(started)}.txt"
        exe = Path(sys.executable).parent / "mlpower-director"
        process = subprocess.Popen(
            [str(exe), "ptd-sim", "--port", "0", "--log", str(log_path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = process.stdout.readline()
        if not line.startswith("ptd-sim listening on "):
            process.kill()
            raise RuntimeError(f"simulator did not start: {line!r} {process.stderr.read()}")
        address = line.split()[3]
        host, port = address.rsplit(":", 1)
        sim = SimProcess(process, host, int(port), log_path)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--meter-url",
        default=None,
        help="a real meter (e.g. 'serial:///dev/ttyUSB0?model=wt310&rate=0.1' or ptd://host:8888) for hardware tests",
    )


@pytest.fixture
def meter_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--meter-url")
    if not url:
        pytest.skip("needs a real meter: pytest --meter-url URL")
    return str(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium (see tests/support/headless.py), one per test module."""
    from tests.support.headless import chromium

    yield from chromium()


@pytest.fixture
def pty_meter():
    """``pty_meter(Driver, instrument)``: the simulated instrument on a real pty, and the driver opened on it."""
    from director.meters.serial_transport import SerialLineTransport
    from director.sim.wt3xx import PtyServer

    servers = []

    def start(driver_class, instrument):  # type: ignore[no-untyped-def]
        server = PtyServer(instrument).start()
        servers.append(server)
        meter = driver_class(SerialLineTransport(server.path))
        meter.open()
        return server, meter

    yield start
    for server in servers:
        server.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: spread over the workers (``make test`` runs ``-n``), the long waits overlap the rest
    instead of being left for last. Within each group the order is kept."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
