"""What the agent shows while a phase runs: plain lines, or a live panel on a terminal (a real pty)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from agent.errors import DirectorUnreachable
from agent.progress import LivePhaseProgress, PhaseProgress
from powerlog.wire import SessionState, SessionStatus
from tests.support.processes import SUT_NICE

BIN = Path(sys.executable).parent


def _status(watts: float | None, samples: int) -> SessionStatus:
    return SessionStatus(
        session_id="s",
        session_name="s",
        state=SessionState.TESTING,
        simulated=True,
        samples={"testing": samples},
        run_folder="/runs/s",
        last_power_w=watts,
        energy_j={"testing": 1234.0},
    )


def test_plain_lines_say_elapsed_watts_samples_and_energy() -> None:
    lines: list[str] = []
    with PhaseProgress("testing", 60, lambda: _status(312.46, 42), lines.append, every_s=0.05):
        time.sleep(0.3)
    assert lines and lines[0].startswith("[testing] 0 s of ~60 s; wall 312.5 W; 42 samples; 1234 J so far")


def test_plain_line_when_the_director_does_not_answer() -> None:
    def unreachable() -> SessionStatus:
        raise DirectorUnreachable("gone")

    lines: list[str] = []
    with PhaseProgress("ranging", None, unreachable, lines.append, every_s=0.05):
        time.sleep(0.2)
    assert lines and lines[0] == "[ranging] 0 s; director not answering"


def test_live_panel_redraws_with_the_latest_figures() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system="standard")
    readings = iter([_status(None, 0), _status(250.0, 10), _status(251.5, 20)] + [_status(251.5, 20)] * 100)
    with LivePhaseProgress("testing", 10, lambda: next(readings), console, every_s=0.05):
        time.sleep(0.4)
    text = out.getvalue()
    assert "\x1b[" in text  # drawn in place with terminal escapes, not appended lines
    assert "251.5 W" in text and "(SIMULATED)" in text
    assert "energy so far" in text and "1234 J" in text and "of ~10 s" in text


@pytest.mark.slow
def test_agent_on_a_terminal_shows_the_live_panel_and_quiet_does_not(tmp_path: Path) -> None:
    director = subprocess.Popen(
        [str(BIN / "mlpower-director"), "serve", "--meter", "sim://?rate=0.1", "--out", str(tmp_path / "runs"),
         "--port", "0", "--settle-s", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert director.stdout is not None
        url = director.stdout.readline().split()[3]
        outputs = {}
        for quiet in (False, True):
            primary, secondary = pty.openpty()
            agent = subprocess.Popen(
                [*SUT_NICE, str(BIN / "mlpower-agent"), "run", "--director", url, "--token-file",
                 str(tmp_path / "runs" / "director.token"), "--out", str(tmp_path / "agent"),
                 "--benchmark", "builtin", "--scenario", "SingleStream", "--duration", "2", "--gpus", "none",
                 "--progress-s", "0.5", *(["--quiet"] if quiet else [])],
                stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env={**os.environ, "COLUMNS": "100"},
            )  # fmt: skip
            os.close(secondary)
            chunks = []
            while True:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the agent exited and closed its end
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            os.close(primary)
            assert agent.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
            outputs[quiet] = b"".join(chunks).decode(errors="replace")
    finally:
        director.terminate()
        director.wait(timeout=20)
    live, quiet_text = outputs[False], outputs[True]
    assert "wall power" in live and "energy so far" in live and "\x1b[" in live
    assert "[testing] " not in live
    assert "[testing] " in quiet_text and "wall power" not in quiet_text


def test_a_plain_line_says_when_wall_samples_stop_coming() -> None:
    progress = PhaseProgress("testing", 60, lambda: _status(300.0, 7), print)
    progress._started = 100.0  # elapsed time driven by hand below
    clock = iter([101.0, 103.0, 104.0, 109.0, 110.0])
    import agent.progress as module

    real = module.time.monotonic
    module.time.monotonic = lambda: next(clock)  # type: ignore[assignment]
    try:
        lines = [progress.line(_status(300.0, n)) for n in (7, 8, 8, 8, 9)]
    finally:
        module.time.monotonic = real  # type: ignore[assignment]
    assert "NO new wall samples" not in lines[1] and "NO new wall samples" not in lines[2]
    assert "NO new wall samples for 6 s (the meter?)" in lines[3]  # 3 s .. 9 s without a new one
    assert "NO new wall samples" not in lines[4]
