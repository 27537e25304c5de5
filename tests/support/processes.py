"""Starting mlpower's own commands as real processes for end-to-end tests, and stopping them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from powerlog.cli_support import stop_process

__all__ = [
    "BIN",
    "agent_argv",
    "phased_builtin",
    "run_agent",
    "serial_session",
    "start_director",
    "start_meter_sim",
    "start_redfish_sim",
    "stop",
    "text_lines",
    "wait_for",
]

BIN = Path(sys.executable).parent
# The SUT's side (the agent and the benchmark it runs) at a lower priority: on a real rig the SUT and the
# director are two machines, and here on one (with test workers beside them) a benchmark busy on every core
# must not starve the director's meter pollers and the meter simulators, as it could not across machines.
SUT_NICE = ["nice", "-n", "19"]
T = TypeVar("T")


def start_director(
    runs: Path, *meters: str, port: int = 0, settle_s: float = 0.5, extra: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """``mlpower-director serve`` on loopback (``--meter`` each of ``meters``; none with ``--system`` in
    ``extra``); returns the process and its URL once it listens."""
    process = subprocess.Popen(
        [str(BIN / "mlpower-director"), "serve", *(a for meter in meters for a in ("--meter", meter)),
         "--out", str(runs), "--port", str(port), "--settle-s", f"{settle_s:g}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:  # a system's plan comes first
        seen += line
        if line.startswith("director listening on "):
            return process, line.split()[3]
        if len(seen.splitlines()) > 100:
            break
    process.kill()
    raise AssertionError(seen + (process.stderr.read() if process.stderr else ""))


def agent_argv(url: str, runs: Path, out: Path, *args: str) -> list[str]:
    """``mlpower-agent run`` against a director started with :func:`start_director`."""
    return [*SUT_NICE, str(BIN / "mlpower-agent"), "run", "--director", url,
            "--token-file", str(runs / "director.token"), "--out", str(out), *args]  # fmt: skip


def phased_builtin(scenario: str, ranging_s: float, testing_s: float) -> list[str]:
    """The agent's workload arguments (``-- COMMAND``) for the built-in benchmark with its own duration per phase:
    a fault test needs one phase long (to break something in it), the other only long enough to be a phase. The
    agent gives the command ``$MLPOWER_LOADGEN_DIR``, which ends in the phase's name."""
    script = (
        f'case "$MLPOWER_LOADGEN_DIR" in */ranging) d={ranging_s:g};; *) d={testing_s:g};; esac; '
        f'exec "{sys.executable}" -m agent.builtin --scenario {scenario} --duration "$d"'
    )
    return ["--", "sh", "-c", script]


def run_agent(url: str, runs: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agent_argv(url, runs, out, *args), capture_output=True, text=True, timeout=300, check=False)


def start_meter_sim(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``mlpower-director meter-sim --serial``; returns the process and its pty's device path."""
    process = subprocess.Popen(
        [str(BIN / "mlpower-director"), "meter-sim", "--serial", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    device = process.stdout.readline().split()[-1] if process.stdout else ""
    if not device.startswith("/dev/"):
        process.kill()
        raise AssertionError(f"meter-sim did not start: {device!r}")
    return process, device


def start_redfish_sim(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``mlpower-director redfish-sim`` (a SIMULATED BMC) on a free loopback port; returns the process and the
    ``redfish://`` meter URL it prints (``ca=`` its certificate with ``--https``, else ``protocol=http``)."""
    process = subprocess.Popen(
        [str(BIN / "mlpower-director"), "redfish-sim", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # the banner, the certificate and credentials lines, then the URL
        seen.append(line)
        if line.startswith("meter URL: "):
            return process, line.split()[-1]
        if len(seen) > 10:
            break
    process.kill()
    raise AssertionError(f"redfish-sim did not start: {seen!r} {process.stderr.read() if process.stderr else ''}")


def serial_session(tmp_path: Path, model: str, *sim_args: str) -> Path:
    """A whole session (built-in SingleStream, 3 s a phase) on a simulated serial analyzer at 10 Hz; its run folder."""
    sim, device = start_meter_sim("--model", model, *sim_args)
    director = None
    try:
        runs = tmp_path / "runs"
        director, url = start_director(runs, f"serial://{device}?model={model}&rate=0.1")
        result = run_agent(url, runs, tmp_path / "agent", "--gpus", "none", "--benchmark", "builtin",
                           "--scenario", "SingleStream", "--duration", "3")  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stop(director, sim)
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    return folder


def stop(*processes: subprocess.Popen[str] | None) -> None:
    for process in processes:
        if process is not None:
            stop_process(process)


def wait_for(predicate: Callable[[], T], timeout_s: float, what: str) -> T:
    """``predicate()``'s first true value, asked every 0.1 s; an AssertionError naming ``what`` after
    ``timeout_s`` (waits on a loaded machine are for a condition, never for a time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def text_lines(path: Path) -> int:
    """How many whole lines ``path`` holds (0 when there is no such file)."""
    return path.read_bytes().count(b"\n") if path.is_file() else 0
