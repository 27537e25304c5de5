"""``mlpower-director watch``: following PTDaemon's -l sample log(s) read-only, phases from the marks.

The logs are real ones: the ranging and testing spl.txt of a published result (a three-channel analyzer),
replayed into a file as PTDaemon appends them, cut at arbitrary bytes (a line is written in two pieces).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from director.session.meter_pump import live_energy_step_j
from director.watch import SampleLogFollower, Watcher, phase_of_mark
from powerlog.spl import PowerSample, format_spl_line, read_spl
from tests.support.paths import FIXTURES
from tests.support.processes import BIN, stop

PERF = FIXTURES["xr12_singlestream"]
SESSION = "2022-08-03_01-02-05"


def _replayed() -> bytes:
    return (PERF / "ranging" / "spl.txt").read_bytes() + (PERF / "run_1" / "spl.txt").read_bytes()


def _expected_energy_j(path: Path) -> float:
    samples, energy_j, last = read_spl(path), 0.0, None
    for i in range(len(samples)):
        sample = PowerSample(int(samples.t_utc_ns[i]), float(samples.power_w[i]), -1.0, -1.0, -1.0)
        energy_j += live_energy_step_j(last, sample)
        last = sample
    return energy_j


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000 * 10**9

    def __call__(self) -> int:
        return self.now_ns


def test_marks_name_the_session_and_phase() -> None:
    assert phase_of_mark("2022-08-03_01-02-05_ranging") == ("2022-08-03_01-02-05", "ranging")
    assert phase_of_mark("2024-01-01_00-00-00_my_label_testing") == ("2024-01-01_00-00-00_my_label", "testing")
    assert phase_of_mark("_testing") is None and phase_of_mark("probe") is None and phase_of_mark("") is None


def test_the_follower_takes_complete_lines_waits_for_the_file_and_rereads_a_new_log(tmp_path: Path) -> None:
    log = tmp_path / "ptd_logfile_1.log"
    follower = SampleLogFollower(log)
    assert follower.read_new() == []  # not there yet
    data = (PERF / "ranging" / "spl.txt").read_bytes()
    first_line_end = data.index(b"\n") + 1
    log.write_bytes(data[: first_line_end + 40])  # one line and the start of the next
    (first,) = follower.read_new()
    assert first.mark == f"{SESSION}_ranging" and len(first.channels) == 3
    assert first.power_w == pytest.approx(142.9) and first.channels[0].volts_v == pytest.approx(118.55)
    with log.open("ab") as f:
        f.write(data[first_line_end + 40 :])
    rest = follower.read_new()
    assert len(rest) == len(read_spl(PERF / "ranging" / "spl.txt")) - 1  # the cut line, whole, and the others
    with log.open("ab") as f:
        f.write(b"Time,not a time,Watts,1\r\n")
    assert follower.read_new() == [] and len(follower.bad_lines) == 1
    log.write_bytes(data[:first_line_end])  # truncated to its first line, read already: counted once
    assert follower.read_new() == [] and follower.restarts == 1 and follower.repeated == 1
    later = format_spl_line(PowerSample(int(first.t_utc_ns) + 10**12, 99.0, 230.0, 0.5, 0.9, "s_ranging"))
    log.write_bytes(later.encode() + b"\r\n")  # PTDaemon started afresh: a shorter file, newer samples
    (fresh,) = follower.read_new()
    assert fresh.power_w == 99.0 and follower.restarts == 2
    assert log.read_bytes() == later.encode() + b"\r\n"  # read, never written


def test_phases_from_the_marks_stop_on_a_new_mark_or_silence(tmp_path: Path) -> None:
    log, clock = tmp_path / "sample.log", FakeClock()
    watcher = Watcher([SampleLogFollower(log)], interval_ms=1000, idle_stop_s=5.0, clock=clock)
    lines = [format_spl_line(PowerSample(i * 10**9, 100.0 + i, 230.0, 0.5, 0.9, mark)) for i, mark in
             enumerate(["", "", "s1_ranging", "s1_ranging", "s1_ranging", "s1_testing", "s1_testing"])]  # fmt: skip
    log.write_text("\r\n".join(lines) + "\r\n")
    assert watcher.poll() == 7
    session = watcher.sessions["s1"]
    assert watcher.unmarked == 2 and session.samples == {"ranging": 3, "testing": 2}
    assert session.state.value == "testing" and session.energy_j["ranging"] == pytest.approx(102.5 + 103.5)
    clock.now_ns += 4 * 10**9
    watcher.poll()
    assert session.state.value == "testing"  # 4 s of silence: still measuring
    clock.now_ns += 2 * 10**9
    watcher.poll()
    assert session.state.value == "tested"
    events = [(e.kind, e.data.get("phase"), e.data.get("what") or e.data.get("state")) for e in watcher.feed.after(0)]
    assert events == [
        ("state", None, "ranging"), ("marker", "ranging", "start"), ("power", "ranging", None),
        ("marker", "ranging", "stop"), ("state", None, "ranged"), ("state", None, "testing"),
        ("marker", "testing", "start"), ("power", "testing", None), ("marker", "testing", "stop"),
        ("state", None, "tested"),
    ]  # fmt: skip
    power = [e.data for e in watcher.feed.after(0) if e.kind == "power"]
    assert [p["phase"] for p in power] == ["ranging", "testing"]  # each phase's samples in its own event
    assert power[0]["power_w"] == [102.0, 103.0, 104.0] and power[1]["samples"] == 2
    starts = [e.data["t_utc_ns"] for e in watcher.feed.after(0) if e.kind == "marker" and e.data["what"] == "start"]
    assert starts == [2 * 10**9, 5 * 10**9]  # at the first sample of each phase


def test_two_analyzers_logs_are_joined_into_channels(tmp_path: Path) -> None:
    logs = [tmp_path / "ptd_logfile_1.log", tmp_path / "ptd_logfile_2.log"]
    for k, log in enumerate(logs):
        lines = [format_spl_line(PowerSample(i * 10**9 + k * 10**8, 100.0 * (k + 1), 230.0, 0.5, 0.9, "s_testing"))
                 for i in range(5)]  # fmt: skip
        log.write_text("\r\n".join(lines) + "\r\n")
    watcher = Watcher([SampleLogFollower(p) for p in logs], interval_ms=1000, clock=FakeClock())
    watcher.poll()
    session = watcher.sessions["s"]
    assert session.samples["testing"] >= 4 and session.last is not None
    assert session.last.power_w == pytest.approx(300.0) and [c.power_w for c in session.last.channels] == [100, 200]


def test_watch_follows_a_growing_log_live_and_writes_nothing(tmp_path: Path) -> None:
    """The real command on a log that grows while it runs: /metrics and the live feed follow it line by line,
    phases found from the marks; the folder holds nothing but the log afterwards, byte for byte as written.
    (A phase stops after 5 s of silence here: far above any stall of the writer on a loaded machine.)"""
    folder = tmp_path / "ptd"
    folder.mkdir()
    log = folder / "ptd_logfile_1.log"
    data = _replayed()
    process = subprocess.Popen(
        [str(BIN / "mlpower-director"), "watch", str(log), "--port", "0", "--idle-stop-s", "5",
         "--utc-offset-s", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"watching {log} (not there yet")
        url = process.stdout.readline().split()[3].rstrip("/")
        events: list[tuple[str, dict]] = []
        listening = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{url}/v1/live?since=now", timeout=30) as live:
                kind = None
                for line in live.iter_lines():
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                        listening.set()
                    elif line.startswith("data: ") and kind is not None:
                        events.append((kind, json.loads(line.removeprefix("data: "))))
                        if kind == "state" and events[-1][1]["state"] == "tested":
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert listening.wait(10)
        half = len(data) // 2
        with log.open("wb") as f:  # PTDaemon appends as it measures; cut mid-line now and then
            for start in range(0, len(data), 7001):
                f.write(data[start : start + 7001])
                f.flush()
                time.sleep(0.02)
                if start <= half < start + 7001:  # read while it grows: some of it, not yet all
                    metrics = httpx.get(f"{url}/metrics", timeout=10).text
                    read = float(metrics.split("mlpower_watch_log_bytes{")[1].split()[1])
                    assert 0 < read <= start + 7001 < len(data), read
        listener.join(30)
        assert not listener.is_alive(), events[-3:]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        stop(process)
    ranging, testing = (len(read_spl(PERF / d / "spl.txt")) for d in ("ranging", "run_1"))
    assert f'mlpower_wall_samples_total{{phase="ranging"}} {ranging:.1f}' in metrics
    assert f'mlpower_wall_samples_total{{phase="testing"}} {testing:.1f}' in metrics
    assert 'mlpower_session_state{state="tested"} 1.0' in metrics and "mlpower_sessions_total 1.0" in metrics
    energy = float(metrics.split('mlpower_wall_energy_joules_total{phase="testing"} ')[1].split()[0])
    assert energy == pytest.approx(_expected_energy_j(PERF / "run_1" / "spl.txt"), rel=1e-9)
    order = [
        (kind, d.get("phase"), d.get("what") or d.get("state")) for kind, d in events if kind in ("state", "marker")
    ]
    assert order == [
        ("state", None, "ranging"), ("marker", "ranging", "start"), ("marker", "ranging", "stop"),
        ("state", None, "ranged"), ("state", None, "testing"), ("marker", "testing", "start"),
        ("marker", "testing", "stop"), ("state", None, "tested"),
    ]  # fmt: skip
    power = [d for kind, d in events if kind == "power"]
    assert sum(len(d["t_utc_ns"]) for d in power if d["phase"] == "ranging") == ranging
    assert all(d["session_id"] == SESSION and len(d["channels_w"][0]) == 3 for d in power)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ptd", "ptd_logfile_1.log"]  # nothing written
    assert hashlib.sha1(log.read_bytes()).digest() == hashlib.sha1(data).digest()


def test_watch_refuses_bad_options(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "mlpower-director"), "watch", *args], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip

    folder = run(str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr, folder.stderr
    exposed = run(str(tmp_path / "log"), "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "--token-file" in exposed.stderr, exposed.stderr


def _lines(marks: list[str], start_s: int = 0, power_w: float = 100.0) -> str:
    return "".join(
        format_spl_line(PowerSample((start_s + i) * 10**9, power_w + i, 230.0, 0.5, 0.9, mark)) + "\r\n"
        for i, mark in enumerate(marks)
    )


def _watch(log: Path) -> tuple[Watcher, FakeClock]:
    clock = FakeClock()
    return Watcher([SampleLogFollower(log)], interval_ms=1000, idle_stop_s=60.0, clock=clock), clock


def test_a_log_replaced_by_a_longer_copy_is_read_from_its_start_and_counted_once(tmp_path: Path) -> None:
    """An editor's save or a copy puts a new file (new inode) under the name, holding the old lines and more:
    the new file is read from its start (not from the old offset), and what was counted is not counted again."""
    log = tmp_path / "sample.log"
    full = _lines(["s_testing"] * 10)
    log.write_text(full[: len(_lines(["s_testing"] * 4))])
    watcher, _ = _watch(log)
    assert watcher.poll() == 4
    replacement = tmp_path / "sample.log.new"
    replacement.write_text(full)
    replacement.replace(log)  # a new inode under the same name
    assert watcher.poll() == 6
    follower, session = watcher.followers[0], watcher.sessions["s"]
    assert follower.restarts == 1 and follower.repeated == 4 and session.samples["testing"] == 10
    assert session.energy_j["testing"] == pytest.approx(sum(100.5 + i for i in range(9)))  # each second once
    assert watcher.poll() == 0 and session.samples["testing"] == 10


def test_a_larger_new_log_is_never_read_from_the_old_offset(tmp_path: Path) -> None:
    """PTDaemon restarted with a new, larger log: every line of it is a sample, none is cut at the old offset."""
    log = tmp_path / "sample.log"
    log.write_text(_lines(["a_testing"] * 3))
    watcher, _ = _watch(log)
    assert watcher.poll() == 3
    log.unlink()
    log.write_text(_lines(["b_ranging"] * 8, start_s=100, power_w=500.0))  # new inode, longer than the old
    assert watcher.poll() == 8 and not watcher.followers[0].bad_lines
    assert watcher.sessions["b"].samples["ranging"] == 8 and watcher.sessions["b"].last.power_w == 507.0  # type: ignore[union-attr]
    assert watcher.sessions["a"].samples["testing"] == 3


def test_a_log_rewritten_in_place_between_two_reads_is_a_new_log(tmp_path: Path) -> None:
    """Truncated and written again past the old offset before the next read (same inode, larger): the first
    bytes differ, so it is read from its start."""
    log = tmp_path / "sample.log"
    log.write_text(_lines(["a_testing"] * 3))
    watcher, _ = _watch(log)
    assert watcher.poll() == 3
    with log.open("r+") as f:  # the same file, not a new one
        f.truncate(0)
        f.write(_lines(["b_testing"] * 6, start_s=50, power_w=300.0))
    assert watcher.poll() == 6 and watcher.followers[0].restarts == 1
    assert watcher.sessions["b"].samples["testing"] == 6 and not watcher.followers[0].bad_lines


def test_a_log_moved_away_is_read_to_its_end_before_the_new_one(tmp_path: Path) -> None:
    """Rotated: lines the writer added to the old file before the rename are still counted, then the new file."""
    log = tmp_path / "sample.log"
    log.write_text(_lines(["s_testing"] * 2))
    watcher, _ = _watch(log)
    assert watcher.poll() == 2
    with log.open("a") as f:
        f.write(_lines(["s_testing"] * 3)[len(_lines(["s_testing"] * 2)) :])
    log.rename(tmp_path / "sample.log.1")
    assert watcher.poll() == 1  # the old file's last line, though the name is gone
    log.write_text(_lines(["s_testing"] * 2, start_s=3))
    assert watcher.poll() == 2 and watcher.sessions["s"].samples["testing"] == 5
