"""The meter always comes back: a link cut or a paused PTDaemon mid-phase, and a measurement left running by
someone else, with real processes on loopback (ptd-sim, serve, the agent); the driver's part with PTDaemon's
replies handed over byte by byte."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from director.errors import MeterConfigError, MeterTimeoutError
from director.meters.ptd import PtdMeter
from director.meters.ranges import Ranges, check_ranges, parse_given_ranges, range_table_for
from director.meters.scripted import ScriptedTransport
from director.meters.transport import TcpLineTransport
from powerlog.ptd_replies import GO_REPLY, HELLO_REPLY, NOTHING_TO_STOP_REPLY, STOP_REPLY, range_changed_reply
from powerlog.spl import read_spl
from tests.support.netproxy import CuttableProxy
from tests.support.processes import BIN, agent_argv, phased_builtin, start_director, stop, text_lines, wait_for

# the driver, scripted -------------------------------------------------------------------------------------


def test_a_measurement_going_on_after_a_lost_connection_is_stopped_before_ranges() -> None:
    """A Go, the connection lost (PTDaemon measures on), a reconnect: Stop before SR, then Go with the mark."""
    auto = [("SR,V,Auto", [range_changed_reply("V")]), ("SR,A,Auto", [range_changed_reply("A")])]
    go = ("Go,1000,0,s_ranging", [GO_REPLY])
    hello = ("Hello", [HELLO_REPLY])
    transport = ScriptedTransport([hello, *auto, go, hello, ("Stop", [STOP_REPLY]), *auto, go, ("Stop", [STOP_REPLY])])
    meter = PtdMeter(transport)
    meter.open()
    meter.set_ranges(Ranges.automatic())  # a fresh driver sends no Stop: the official checker counts them
    meter.start("s_ranging")
    assert meter.measuring is True
    meter.close()  # the link went
    meter.open()
    meter.set_ranges(Ranges.automatic())
    meter.start("s_ranging")
    assert meter.stop() is True and meter.measuring is False
    assert transport.script == []


def test_a_go_whose_reply_was_lost_counts_as_measuring() -> None:
    class Lost(ScriptedTransport):
        def _recv(self, command: str, deadline: float) -> bytes:
            if command.startswith("Go"):
                raise MeterTimeoutError("no complete reply", command=command)
            return super()._recv(command, deadline)

    stop = ("Stop", [NOTHING_TO_STOP_REPLY])
    auto = [("SR,V,Auto", [range_changed_reply("V")]), ("SR,A,Auto", [range_changed_reply("A")])]
    transport = Lost([("Go,1000,0,m", [GO_REPLY]), stop, *auto])
    meter = PtdMeter(transport)
    with contextlib.suppress(Exception):
        meter.start("m")
    assert meter.measuring is True
    meter.set_ranges(Ranges.automatic())  # Stop first: it may have started; it had not
    assert transport.script == [] and meter.measuring is False


@pytest.mark.parametrize("volts", [math.inf, math.nan, -1.0, 0.0])
def test_a_range_that_is_not_finite_and_positive_is_never_sent(volts: float) -> None:
    transport = ScriptedTransport([])  # any command fails the test
    with pytest.raises(MeterConfigError, match="ranges not sent"):
        PtdMeter(transport).set_ranges(Ranges(volts, 1.0))
    assert transport.exchanges == []


def test_given_ranges_are_finite_positive_and_inside_the_models_table() -> None:
    wt310 = range_table_for("YokogawaWT310")
    assert parse_given_ranges("230", "1.5", wt310, "WT310") == Ranges(230.0, 1.5)  # the analyzer rounds up
    for volts, amps, why in [
        ("inf", "inf", "inf V is not a range: give a finite number above 0"),
        ("nan", "2", "nan V is not a range"),
        ("300", "-2", "-2 A is not a range"),
        ("700", "2", "700 V is above the largest V range of the WT310 (15, 30, 60, 150, 300, 600 V): give at most"),
        ("300", "21", "give at most 20 A"),
        ("1e400", "2", "inf V is not a range"),
        ("300", "x", "'x' A are not numbers"),
    ]:
        with pytest.raises(ValueError, match=f"^ranges .*{why.replace('(', '.').replace(')', '.')}"):
            parse_given_ranges(volts, amps, wt310, "WT310")
    assert check_ranges(Ranges(5000.0, 100.0)) == Ranges(5000.0, 100.0)  # no table known: finite and positive


# real processes ------------------------------------------------------------------------------------------


class DroppingProxy(CuttableProxy):
    """A link cut that takes the TCP connection with it (a switch restarted, a NAT entry lost): the director sees
    its connection end, and a new one waits until the link is back."""

    def drop(self) -> None:
        self.cut()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _agent(url: str, runs: Path, out: Path, ranging_s: float, testing_s: float) -> subprocess.Popen[str]:
    argv = agent_argv(url, runs, out, "--label", "comeback", "--gpus", "none", "--progress-s", "1",
                      *phased_builtin("Offline", ranging_s, testing_s))  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(agent: subprocess.Popen[str]) -> None:
    output, _ = agent.communicate(timeout=180)
    assert agent.returncode == 0, output


def _sim_measuring(port: int) -> bool:
    """Whether ptd-sim measures (asked with Stop, which ends it: only at a test's end)."""
    meter = PtdMeter(TcpLineTransport("127.0.0.1", port, timeout_s=10))
    with meter:
        return meter.stop()


def _go_by_hand(port: int, mark: str) -> None:
    """A measurement someone else leaves running (a director that lost the link at the wrong moment, a client)."""
    meter = PtdMeter(TcpLineTransport("127.0.0.1", port, timeout_s=10))
    with meter:
        meter.start(mark)


def _check_resumed(runs: Path) -> Path:
    """The first session: a ranging gap, closed, samples after it, testing measured, the meter free."""
    folder = min(p for p in runs.iterdir() if p.is_dir())
    record = json.loads((folder / "session.json").read_text())
    assert record["state"] == "closed", record.get("error")
    gaps = record["meter_gaps"]
    assert gaps and all(g["phase"] == "ranging" and g["restored_utc_ns"] is not None for g in gaps), gaps
    ranging = read_spl(folder / "ranging" / "spl.txt")
    assert (ranging.t_utc_ns > gaps[-1]["restored_utc_ns"]).sum() >= 2  # the phase went on after the gap
    assert len(read_spl(folder / "run_1" / "spl.txt")) >= 2
    commands = [e["cmd"] for e in record["meter"]["exchanges"]]
    go_again = [i for i, c in enumerate(commands) if c.endswith("_ranging") and c.startswith("Go,")][1]
    assert commands[go_again - 3 : go_again] == ["Stop", "SR,V,Auto", "SR,A,Auto"], commands
    return folder


@pytest.mark.slow
def test_a_link_cut_during_ranging_resumes_the_phase(ptd_sim, tmp_path: Path) -> None:
    sim = ptd_sim("--signal", "constant:250")
    proxy = DroppingProxy(sim.port)
    proxy.start()
    runs = tmp_path / "runs"
    director, url = start_director(runs, f"ptd://127.0.0.1:{proxy.port}?timeout=5")
    agent = None
    try:
        agent = _agent(url, runs, tmp_path / "agent", 9, 2)
        wait_for(lambda: any(text_lines(p) >= 2 for p in runs.glob("*/ranging/spl.txt")), 120, "ranging samples")
        proxy.drop()
        time.sleep(0.8)
        proxy.restore()
        _finish(agent)
        _check_resumed(runs)
        agent = _agent(url, runs, tmp_path / "agent2", 2, 2)  # the next session gets the meter
        _finish(agent)
    finally:
        stop(agent, director)
        proxy.close()
    assert not _sim_measuring(sim.port)


@pytest.mark.slow
def test_a_paused_ptdaemon_during_ranging_resumes_the_phase(ptd_sim, tmp_path: Path) -> None:
    """PTDaemon stopped (SIGSTOP) for longer than the driver's timeout and several reconnect attempts."""
    sim = ptd_sim("--signal", "constant:250")
    runs = tmp_path / "runs"
    director, url = start_director(runs, f"{sim.url}?timeout=1.5")
    agent = None
    try:
        agent = _agent(url, runs, tmp_path / "agent", 14, 2)
        wait_for(lambda: any(text_lines(p) >= 2 for p in runs.glob("*/ranging/spl.txt")), 120, "ranging samples")
        sim.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(6)
        finally:
            sim.process.send_signal(signal.SIGCONT)
        _finish(agent)
        _check_resumed(runs)
        agent = _agent(url, runs, tmp_path / "agent2", 2, 2)
        _finish(agent)
    finally:
        stop(agent, director)
    assert not _sim_measuring(sim.port)


@pytest.mark.slow
def test_a_measurement_left_running_is_stopped_by_serve_and_by_a_session(ptd_sim, tmp_path: Path) -> None:
    """A failed session that could not stop PTDaemon (or any other client) left it measuring: serve stops it at
    its start and says so; one left running while serve runs is stopped by the next session."""
    sim = ptd_sim("--signal", "constant:250")
    runs = tmp_path / "runs"
    _go_by_hand(sim.port, "failed_testing")
    director, url = start_director(runs, sim.url)
    agent = None
    try:
        assert director.stdout is not None
        said = []  # dashboard, token, the meter's line, then the agent's command line last
        for line in director.stdout:
            said.append(line)
            if line.startswith("agent: "):
                break
        assert any(f"meter: {sim.url} was still measuring" in line and "stopped it" in line for line in said), said
        _go_by_hand(sim.port, "someone_else")
        agent = _agent(url, runs, tmp_path / "agent", 2, 2)
        _finish(agent)
    finally:
        stop(agent, director)
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    commands = [(e["cmd"], e["reply"]) for e in json.loads((folder / "session.json").read_text())["meter"]["exchanges"]]
    assert ("Stop", STOP_REPLY) in commands[:6], commands  # before the ranging ranges
    assert not _sim_measuring(sim.port)


def test_meter_probe_leaves_a_running_measurement_alone_and_says_what_to_do(ptd_sim) -> None:
    sim = ptd_sim("--signal", "constant:250")
    _go_by_hand(sim.port, "a_session_testing")
    probe = subprocess.run([str(BIN / "mlpower-director"), "meter-probe", sim.url, "--samples", "1"],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert probe.returncode != 0
    assert "the analyzer is measuring" in probe.stderr and "once that session has ended" in probe.stderr, probe.stderr
    assert "Traceback" not in probe.stderr
    assert _sim_measuring(sim.port)  # still measuring: the probe stopped nothing


def test_meter_probe_of_none_says_there_is_no_meter() -> None:
    probe = subprocess.run([str(BIN / "mlpower-director"), "meter-probe", "none://"],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert probe.returncode != 0 and "there is no meter to probe" in probe.stderr, probe.stderr
