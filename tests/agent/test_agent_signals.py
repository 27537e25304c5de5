"""The agent stopped by a signal mid-phase (real processes on loopback): its session is aborted with the
signal's name, the meter is free again, and no process of its workload survives it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.client import DirectorClient
from agent.errors import DirectorFailed, DirectorUnreachable
from agent.run import SIGNALLED_RELEASE_S, _release
from agent.signals import Signalled, exit_status, forwarded_signals, held_signals
from agent.workload import Workload, run_workload, stop_process_group
from powerlog.wire import AgentInfo, OpenSessionRequest, SessionOpened, SessionState, SessionStatus
from tests.support.processes import agent_argv, start_director, stop, wait_for

# a workload whose shell leads its process group (the agent starts it in a session of its own), writes its pid
# (= the group's id) and leaves two sleeping processes: one in the background, one it waits for
SPAWNING_WORKLOAD = 'echo $$ > "{pid_file}.new" && mv "{pid_file}.new" "{pid_file}"; sleep 1000 & sleep 1000'


def _group_members(group: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _default_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _meter_is_free(url: str, token: str) -> bool:
    """A new session opens (and is aborted again at once)."""
    with DirectorClient(url, token, retry_s=5) as client:
        request = OpenSessionRequest(agent=AgentInfo(label="after"), client_uuid=str(uuid.uuid4()))
        client.abort_session(client.open_session(request), "test: the meter was free")
    return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signalled_agent_aborts_its_session_and_takes_its_workload_down(
    signum: signal.Signals, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    pid_file = tmp_path / "workload.pid"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:220")
    argv = agent_argv(url, runs, tmp_path / "agent", "--label", "signalled", "--gpus", "none",
                      "--", "sh", "-c", SPAWNING_WORKLOAD.format(pid_file=pid_file))  # fmt: skip
    log = tmp_path / "agent.out"
    # into a file, not a pipe: processes the agent left behind would hold a pipe open past its end
    with log.open("w") as out:
        # as from a terminal: a suite started in the background (make test &, nohup) passes SIGINT (or SIGHUP)
        # on ignored, and the agent rightly leaves an ignored signal ignored
        agent = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, text=True, preexec_fn=_default_stop_signals
        )
    group = 0
    try:

        def workload_running() -> bool:
            if agent.poll() is not None:
                raise AssertionError(f"the agent ended before its workload ran: {log.read_text()[-2000:]}")
            return pid_file.is_file() and len(_group_members(int(pid_file.read_text()))) >= 3  # sh and 2 sleeps

        wait_for(workload_running, 180, "the workload and its children")
        group = int(pid_file.read_text())
        agent.send_signal(signum)
        agent.wait(timeout=120)
        output = log.read_text()
        assert agent.returncode == exit_status(Signalled(signum)) == 128 + signum, output
        assert f"interrupted by {signum.name}" in output and "Traceback" not in output, output
        assert _group_members(group) == [], "a process of the workload outlived the agent"
        (folder,) = [p for p in runs.iterdir() if p.is_dir()]
        record = json.loads((folder / "session.json").read_text())
        assert record["state"] in ("failed", "aborted") and signum.name in (record["error"] or ""), record["error"]
        assert _meter_is_free(url, (runs / "director.token").read_text().strip())
    finally:
        for pid in _group_members(group) if group else []:  # never leave sleepers behind, even when failing
            subprocess.run(["kill", "-9", str(pid)], check=False)
        stop(agent, director)


def test_a_workload_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    process = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000"], start_new_session=True)
    wait_for(lambda: len(_group_members(process.pid)) >= 3, 60, "the workload's children")
    started = time.monotonic()
    assert stop_process_group(process, grace_s=0.5)
    assert time.monotonic() - started >= 0.5  # SIGTERM was tried first, for the grace
    assert process.returncode == -signal.SIGKILL
    # the SIGKILLed children are reaped by init a moment later: an idle make test once still saw them in /proc
    wait_for(lambda: _group_members(process.pid) == [], 10, "the killed group's members to be gone")


def test_what_a_finished_workload_left_running_is_stopped(tmp_path: Path) -> None:
    """A benchmark that exits leaving a helper in the background: the helper does not run on into the next
    phase (or past the agent)."""
    pid_file = tmp_path / "helper.pid"
    code = (
        f"import os, pathlib, subprocess; p = subprocess.Popen(['sleep', '1000']); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpgid(p.pid))); "
        "d = pathlib.Path(os.environ['MLPOWER_LOADGEN_DIR']); "
        "(d / 'mlperf_log_detail.txt').write_text('x'); (d / 'mlperf_log_summary.txt').write_text('y')"
    )
    run_workload(Workload((sys.executable, "-c", code)), tmp_path / "logs")
    assert _group_members(int(pid_file.read_text())) == []


@pytest.fixture
def stop_signals_at_default() -> Iterator[None]:
    """SIGINT and SIGHUP at their defaults, as a terminal gives them (a suite run with nohup or in the background
    has them ignored, and the agent leaves an ignored signal ignored)."""
    before = {signum: signal.signal(signum, signal.SIG_DFL) for signum in (signal.SIGINT, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("stop_signals_at_default")
def test_sigterm_inside_the_block_raises_signalled_once_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Signalled) as info, forwarded_signals():
        signal.raise_signal(signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises in this thread
    assert info.value.signal_name == "SIGTERM" and isinstance(info.value, KeyboardInterrupt)
    with forwarded_signals():
        with pytest.raises(Signalled):
            signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGHUP)  # a second signal while the first one's abort runs: not raised again
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_signal_ignored_on_entry_stays_ignored() -> None:
    """`nohup mlpower-agent ...` must survive the hangup it asked to survive (and a background job Ctrl-C)."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with forwarded_signals():
            signal.raise_signal(signal.SIGHUP)  # ignored: nothing raised
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(Signalled):
                signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


@pytest.mark.usefixtures("stop_signals_at_default")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_while_the_workload_starts_is_raised_once_it_has_started(signum: signal.Signals) -> None:
    """Held, not lost: raised when the block is done (the workload's group then has a name to stop it by)."""
    done = []
    with forwarded_signals():
        with pytest.raises(Signalled) as info, held_signals():
            signal.raise_signal(signum)
            done.append("the block ran to its end")
        assert done and info.value.signal_name == signum.name
        with pytest.raises(OSError), held_signals():  # the block's own error goes first
            signal.raise_signal(signal.SIGTERM)
            raise OSError("cannot start")
    with forwarded_signals(), held_signals():  # nothing pending is left over for the next block
        pass


def _opened() -> SessionOpened:
    return SessionOpened(session_id="s1", session_name="n", server_uuid="u", settle_s=1, state=SessionState.TESTING,
                         session_secret="x" * 32, lease_s=30)  # fmt: skip


def test_an_abort_within_a_bound_stops_retrying_a_director_that_is_gone() -> None:
    """A signalled agent frees the meter for a bounded time only: it once retried a dead director for the whole
    ``--retry-s`` (60 s) and, having taken its one signal, ignored a second SIGTERM meanwhile."""
    asked: list[httpx.Request] = []

    def gone(request: httpx.Request) -> httpx.Response:  # the network's edge: nothing listens any more
        asked.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    client = DirectorClient("http://director.invalid", "t" * 32, transport=httpx.MockTransport(gone))
    with client, pytest.raises(DirectorUnreachable):
        client.abort_session(_opened(), "agent interrupted by SIGTERM", within_s=1.0)
    # tried at once and after 0.5 s; the next try (1 s later) would end past the bound, so there is none
    assert len(asked) == 2
    assert asked[0].extensions["timeout"] == {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 1.0}


def test_after_a_signal_the_release_is_bounded_and_after_a_failure_it_is_not() -> None:
    bounds: list[tuple[str, float | None]] = []

    class Recording(DirectorClient):
        def abort_session(self, session: SessionOpened, reason: str, within_s: float | None = None) -> SessionStatus:
            bounds.append((reason, within_s))
            raise DirectorUnreachable("the director is gone")  # suppressed: the first failure is what counts

    with Recording("http://director.invalid", "t" * 32) as client:
        _release(client, _opened(), Signalled(signal.SIGTERM))
        _release(client, _opened(), DirectorFailed("the director failed the phase"))
    assert bounds == [("agent interrupted by SIGTERM", SIGNALLED_RELEASE_S), ("the director failed the phase", None)]
