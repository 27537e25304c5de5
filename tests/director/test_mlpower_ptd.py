"""mlpower-ptd: PTDaemon's command line, its stdout/-l split and its RL shapes, as power-dev uses them."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from director.ptd_front.cli import UsageError, build_parser, channel_count, simulated_analyzer
from powerlog.ptd_rl import RL_HEADER, format_rl_line, rl_line_to_spl
from powerlog.spl import SPL_FIELDS, parse_spl_text, read_spl
from tests.support.paths import DATA_DIR
from tests.support.ports import free_port

DATA = DATA_DIR / "mlperf-results-v4.1-v5.1"
REAL_SPL = sorted(DATA.glob("v*/*/*/results/*/*/*/performance/run_1/spl.txt"))
ACTIVATED = re.compile(r"Uncertainty checking for Yokogawa\S+ is activated")  # what the official checker seeks


@pytest.mark.parametrize(
    ("argv", "model", "channels"),
    [
        (["-l", "x.log", "-p", "8888", "49", "COM1"], "SimulatedWT310", 1),
        (["-l", "x.log", "-p", "8888", "-c", "1,2", "-y", "77", "C2XL24034V"], "SimulatedWT330_multichannel", 2),
        (["-l", "x.log", "-p", "8888", "-c", "1,3", "-y", "77", "10.0.0.1"], "SimulatedWT330_multichannel", 3),
        (["-l", "x.log", "-p", "8888", "-c", "3", "48", "/dev/usbtmc0"], "SimulatedWT500_multichannel", 3),
        (["-l", "x.log", "-p", "8888", "-g", "8", "20"], "SimulatedWT210", 1),
        (["-l", "x.log", "-p", "8888", "-b", "0", "-g", "52", "1"], "SimulatedWT330", 1),
        (["-l", "x.log", "-p", "8888", "-D", "549", "COM2"], "SimulatedWT310_DC", 1),
    ],
)
def test_power_dev_command_lines(argv: list[str], model: str, channels: int) -> None:
    """The command lines power-dev's server builds (ptd, -l, -p, [-b], [-c], [dcFlag], [interfaceFlag], type, port)."""
    analyzer = simulated_analyzer(build_parser().parse_args(argv))
    assert analyzer.model == model and analyzer.channels == channels
    assert analyzer.yokogawa_model == model.replace("Simulated", "Yokogawa")


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["-q", "49", "COM1"], "unrecognized arguments: -q"),
        (["99", "COM1"], "device type 99 is not simulated"),
        (["-c", "1,2", "49", "COM1"], "single-channel analyzer takes one channel number"),
        (["-c", "a,b", "77", "x"], "integers"),
        (["-c", "2,2", "77", "x"], "channels start at 1"),
        (["-g", "-y", "77", "x"], "not allowed with argument"),
        (["49"], "required"),
    ],
)
def test_bad_command_lines_are_refused_with_the_reason(argv: list[str], why: str) -> None:
    with pytest.raises(UsageError, match=why):
        simulated_analyzer(build_parser().parse_args(argv))


def test_channel_count_follows_power_dev() -> None:
    assert channel_count(77, "1,2") == 2 and channel_count(77, None) == 2
    assert channel_count(48, "1") == 1 and channel_count(49, "1") == 1


@pytest.mark.parametrize("path", REAL_SPL, ids=[p.parts[-5] + "-" + p.parts[-4] for p in REAL_SPL])
def test_rl_lines_are_what_power_dev_turns_into_the_real_spl(path: Path) -> None:
    """A real spl.txt line is power-dev's rewrite of PTDaemon's RL line: the simulator's RL shape,
    rewritten the same way, gives the real line back, character for character."""
    lines = path.read_text().splitlines()[:50]
    for line in lines:
        log = parse_spl_text(line)
        (sample,) = list(log.samples())
        raw = format_rl_line(sample)
        assert ",Mark," not in raw and not re.search(r",Ch\d+,", raw)
        assert raw.count(",Watts,") == 1 + len(sample.channels)
        if not log.multichannel and sample.volts_v == -1:
            continue  # a dropped single-channel sample carries no channel blocks to tell apart
        assert rl_line_to_spl(raw, sample.mark) == line


def test_rl_headers() -> None:
    assert RL_HEADER.fullmatch("Last 761 samples from sum channel and channels 1 - 3")
    assert RL_HEADER.fullmatch("Last 832 samples") and RL_HEADER.fullmatch("Last 1 sample")


def _cmd(f, command: str) -> list[str]:  # type: ignore[no-untyped-def]
    f.write((command + "\r\n").encode())
    f.flush()
    first = f.readline().decode().rstrip("\r\n")
    m = RL_HEADER.fullmatch(first)
    return [first, *(f.readline().decode().rstrip("\r\n") for _ in range(int(m.group(1)) if m else 0))]


def _power_dev_sequence(tmp_path: Path, device: list[str]) -> tuple[dict[str, str], str, Path]:
    """power-dev's documented command sequence against a real mlpower-ptd process on loopback, stopped
    with the client still connected; the first reply line of each command by name, the debug log (stdout)
    and the -l sample log."""
    port = free_port()
    sample_log, stdout = tmp_path / "ptd_logfile_1.log", tmp_path / "ptd_out.txt"
    argv = ["-m", "director.ptd_front.cli", "-l", str(sample_log), "-p", str(port), "-c", "1,2", *device]
    replies: dict[str, str] = {}
    with stdout.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, *argv], stdout=out, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert daemon.poll() is None, daemon.stderr.read().decode() if daemon.stderr else ""
                assert time.monotonic() < deadline, "mlpower-ptd did not start listening"
                time.sleep(0.1)
        f = conn.makefile("rwb")
        session = "2026-12-01_12-00-00"
        assert _cmd(f, "Hello") == ["Hello, PTDaemon here!"]
        replies["Identify"] = _cmd(f, "Identify")[0]
        assert _cmd(f, "RR")[0].startswith("Ranges,")
        for command in ("SR,V,Auto", "SR,A,Auto", "SR,A,Auto"):
            assert _cmd(f, command) == [f"Range {command[3]} changed"]
        assert _cmd(f, f"Go,1000,0,{session}_ranging")[0].startswith("Starting untimed measurement")
        time.sleep(2.5)
        assert _cmd(f, "Stop") == ["Stopping untimed measurement"]
        rl = _cmd(f, "RL,*,*")
        assert rl[0] == f"Last {len(rl) - 1} samples from sum channel and channels 1 - 2" and len(rl) >= 3
        assert all(",Mark," not in line and line.count(",Watts,") == 3 for line in rl[1:])
        assert _cmd(f, "RL") == ["Invalid number of parameters"]
        # ranging on Auto: no sample's uncertainty is known, answered as PTDaemon 1.10/1.11 answer it
        assert _cmd(f, "Uncertainty")[0].startswith("Uncertainty,-1.0,10000000.000000,0.000000,")
        assert _cmd(f, "Watts")[0].startswith("Watts,")
        samples = read_spl(sample_log)
        peak_a = max(float(ch.amps_a.max()) for ch in samples.channels)  # type: ignore[union-attr]
        peak_v = max(float(ch.volts_v.max()) for ch in samples.channels)  # type: ignore[union-attr]
        assert _cmd(f, f"SR,V,{peak_v}") == ["Range V changed"]
        assert _cmd(f, f"SR,A,{peak_a * 1.1}") == ["Range A changed"]
        assert _cmd(f, f"Go,1000,0,{session}_testing")[0].startswith("Starting untimed measurement")
        time.sleep(2.5)
        for command in ("Watts", "Uncertainty"):
            replies[command] = _cmd(f, command)[0]
            assert replies[command].startswith(command)
        assert _cmd(f, "Stop") == ["Stopping untimed measurement"]
        assert _cmd(f, "RL,*,*")[0].startswith("Last ")
        assert _cmd(f, "SR,V,Auto") == ["Range V changed"] and _cmd(f, "SR,A,Auto") == ["Range A changed"]
        daemon.send_signal(signal.SIGINT)  # the client is still connected
        assert daemon.wait(timeout=20) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    stderr = daemon.stderr.read().decode() if daemon.stderr else ""
    assert "Traceback" not in stderr, stderr
    debug = stdout.read_text()
    assert ACTIVATED.search(debug) and "SIMULATED" in debug
    assert f"Go with mark '{session}_ranging'" in debug and "Completed test" in debug
    # PTDaemon logs a whole RL reply, its sample lines too (power-dev's ptd_logs.txt holds them)
    assert re.search(r"Response to client sent: Last \d+ samples from sum channel and channels 1 - 2\nTime,", debug)
    log = read_spl(sample_log)  # the -l file: complete spl.txt lines, marks and channel labels included
    assert not log.bad_lines and len(log.channels) == 2
    assert set(log.marks) == {f"{session}_ranging", f"{session}_testing"}
    return replies, debug, sample_log


@pytest.mark.slow
def test_power_dev_sequence_against_mlpower_ptd(tmp_path: Path) -> None:
    replies, debug, _ = _power_dev_sequence(tmp_path, ["-y", "77", "X"])
    assert "port 'X' not opened" in debug
    assert replies["Identify"].startswith("SimulatedWT330_multichannel,")
    assert "version=mlpower-sim-" in replies["Identify"]


@pytest.mark.slow
def test_mlpower_ptd_serves_a_yokogawa_through_mlpowers_driver(tmp_path: Path) -> None:
    """DEVICE_PORT as a meter URL: mlpower's WT330 driver reads a (simulated, on a real pty) WT332E and
    mlpower-ptd serves it as PTDaemon would, saying it is mlpower-ptd, not SPEC PTDaemon; with the testing
    ranges fixed, each sample's uncertainty is the driver's and the Uncertainty reply says so."""
    replies, debug, _ = _power_dev_sequence(tmp_path, ["-y", "77", "sim://?model=wt332"])
    identify = replies["Identify"]
    assert identify.startswith("YokogawaWT330_multichannel,") and ",mode=power,1,1,2," in identify
    assert "version=mlpower-ptd-" in identify and identify.endswith("YOKOGAWA;WT332E;SIMULATED-MLPOWER;F1.00")
    assert "not SPEC PTDaemon" in debug and "read by mlpower's driver" in debug
    avg, low, high, samples, errors, known, unknown = replies["Uncertainty"].split(",")[1:]
    assert 0 < float(low) <= float(avg) <= float(high) < 0.01, replies["Uncertainty"]
    assert int(samples) == int(known) >= 1 and int(errors) == int(unknown) == 0


@pytest.mark.parametrize(
    ("device", "why"),
    [
        (["49", "sim://?model=wt332"], "device type 49 is a YokogawaWT310, but .* start it as device type 77"),
        (["77", "ptd://127.0.0.1:8888"], "already a PTDaemon"),
        (["49", "serial://"], "names no serial device"),
    ],
)
def test_meter_urls_that_cannot_be_served_are_refused(device: list[str], why: str) -> None:
    from director.errors import DirectorError
    from director.ptd_front.cli import meter_instrument

    with pytest.raises((UsageError, DirectorError), match=why):
        meter_instrument(build_parser().parse_args(device))


POWER_DEV_RUN = DATA_DIR / "power-dev-runs" / "mlpower-ptd-wt332-sim"


def test_a_power_dev_session_through_mlpower_ptd_and_a_meter_url() -> None:
    """A folder power-dev's own server and client wrote with mlpower-ptd serving a WT332E through mlpower's
    driver (tests/data/power-dev-runs/README.md): mlpower reads it, and of the official checks only the
    PTDaemon version fails, as the official checker said of the same folder; mlpower says why."""
    from analyzer.checks import check_run
    from analyzer.official import official_checks
    from analyzer.report import build_report
    from analyzer.rounds import get_round
    from analyzer.run import load_run

    report = build_report(load_run(POWER_DEV_RUN), "v6.0")
    assert report.power_metric is not None and report.power_metric.value > 0 and report.meter.simulated
    assert report.testing is not None and len(report.testing.channel_avg_power_w) == 2
    run = load_run(POWER_DEV_RUN, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    checks = official_checks(run, get_round("v6.0"))
    failed = [(c.check, c.message) for c in checks if c.outcome.value == "fail"]
    assert len(failed) == 1 and "'mlpower' not accepted" in failed[0][1], failed
    errors = {f.rule: f.message for f in check_run(run, "v6.0") if f.is_error}
    assert set(errors) == {"2.min_duration", "8.ptd_version"}, errors
    assert "served by mlpower-ptd" in errors["8.ptd_version"]
