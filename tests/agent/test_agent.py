"""Agent pieces: the clock estimate, the workload runner, the client's errors, the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.client import DirectorClient
from agent.clock import ClockRound, estimate_offset
from agent.errors import DirectorUnreachable, WorkloadError
from agent.workload import LOADGEN_DIR_ENV, Workload, run_workload

SKEW = 1_234_567_891


def _round(t1: int, up_ns: int, serve_ns: int, down_ns: int, skew_ns: int = SKEW) -> ClockRound:
    # agent clock = director clock - skew; the request takes up_ns, the reply down_ns
    t2 = t1 + skew_ns + up_ns
    t3 = t2 + serve_ns
    return ClockRound(t1, t2, t3, t3 - skew_ns + down_ns)


def test_symmetric_delays_give_the_exact_offset() -> None:
    m = estimate_offset([_round(i * 10**9, 500_000, 100_000, 500_000) for i in range(8)])
    assert m.offset_ns == SKEW and m.delay_ns == 1_000_000 and m.bound_ns == 500_000 and m.rounds == 8


def test_a_slow_round_changes_nothing_and_a_fast_leg_tightens_its_side() -> None:
    rounds = [_round(0, 40_000_000, 0, 1_000)] + [_round(i, 200_000, 0, 200_000) for i in range(1, 8)]
    m = estimate_offset(rounds)
    # truth in [skew - min(down), skew + min(up)] = [skew - 1 us, skew + 200 us]: midpoint, half-width
    assert m.offset_ns == SKEW + (200_000 - 1_000) // 2 and m.bound_ns == (200_000 + 1_000 + 1) // 2
    assert m.kept == 8 and m.delay_ns == 400_000 and abs(m.offset_ns - SKEW) <= m.bound_ns


def test_asymmetric_legs_with_jitter_keep_the_truth_inside_where_the_median_did_not() -> None:
    """5 ms up and 1 ms down: every round's offset is 2 ms off, and the bound says so."""
    rounds = [_round(i * 10**7, 5_000_000 + j, 50_000, 1_000_000 + k) for i, (j, k) in
              enumerate([(0, 2_000_000), (-2_000_000, 0), (1_000_000, -1_000_000), (3_000_000, 500_000)])]  # fmt: skip
    m = estimate_offset(rounds)
    assert m.offset_ns - SKEW == (3_000_000 - 0) // 2 and m.bound_ns == (3_000_000 + 0 + 1) // 2
    assert abs(m.offset_ns - SKEW) <= m.bound_ns


def test_a_clock_step_mid_exchange_falls_back_to_the_fastest_round() -> None:
    rounds = [_round(0, 300_000, 0, 300_000), _round(10**7, 100_000, 0, 100_000, skew_ns=SKEW + 5_000_000)]
    m = estimate_offset(rounds)
    assert m.kept == 1 and m.offset_ns == SKEW + 5_000_000 and m.bound_ns == 100_000


@given(
    st.lists(st.tuples(st.integers(0, 50_000_000), st.integers(0, 5_000_000), st.integers(0, 50_000_000)), min_size=1),
    st.integers(-(10**12), 10**12),
)
def test_the_truth_lies_within_the_bound_and_the_bound_within_half_the_fastest_trip(delays, skew_ns) -> None:
    rounds = [_round(i * 10**8, up, serve, down, skew_ns) for i, (up, serve, down) in enumerate(delays)]
    m = estimate_offset(rounds)
    assert abs(m.offset_ns - skew_ns) <= m.bound_ns <= (min(up + down for up, _, down in delays) + 1) // 2 + 1
    assert m.kept == len(rounds)


def _python(code: str) -> Workload:
    return Workload((sys.executable, "-c", code))


def test_workload_failures_are_explained(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="exited with status 3"):
        run_workload(_python("raise SystemExit(3)"), tmp_path / "a")
    with pytest.raises(WorkloadError, match=LOADGEN_DIR_ENV):
        run_workload(_python("pass"), tmp_path / "b")
    with pytest.raises(WorkloadError, match="cannot start"):
        run_workload(Workload(("/nonexistent/benchmark",)), tmp_path / "c")


def test_workload_logs_are_found_below_the_folder(tmp_path: Path) -> None:
    code = (
        "import os, pathlib; d = pathlib.Path(os.environ['MLPOWER_LOADGEN_DIR']) / 'resnet' / 'Offline'; "
        "d.mkdir(parents=True); (d / 'mlperf_log_detail.txt').write_text('x'); "
        "(d / 'mlperf_log_summary.txt').write_text('y')"
    )
    run = run_workload(_python(code), tmp_path / "logs")
    assert set(run.logs) == {"mlperf_log_detail.txt", "mlperf_log_summary.txt"}
    assert run.logs["mlperf_log_detail.txt"].parent.name == "Offline"


def test_unreachable_director_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with DirectorClient(f"http://127.0.0.1:{port}", "t") as client, pytest.raises(DirectorUnreachable) as info:
        client.health()
    assert "mlpower-director serve" in str(info.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to run"),
        (["--benchmark", "builtin", "--", "true"], "not both"),
        (["--benchmark", "builtin", "--duration", "0"], "argument --duration: must be positive"),
        # refused by the command line, before any session holds the meter (nan opened one, 1e9 crashed LoadGen)
        (["--benchmark", "builtin", "--duration", "nan"], "argument --duration: must be positive and finite"),
        (["--benchmark", "builtin", "--duration", "inf"], "argument --duration: must be positive and finite"),
        (["--benchmark", "builtin", "--duration", "-1"], "argument --duration: must be positive"),
        (["--benchmark", "builtin", "--duration", "1e9"], "to 604800 s (7 days), got '1e9'"),
        (["--benchmark", "builtin", "--duration", "ten"], "must be a number of seconds, got 'ten'"),
    ],
)
def test_command_line_mistakes(args: list[str], message: str) -> None:
    exe = Path(sys.executable).parent / "mlpower-agent"
    result = subprocess.run(
        [str(exe), "run", "--director", "http://127.0.0.1:9", "--token", "t" * 16, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_the_agent_holds_tokens_to_the_directors_rule(tmp_path: Path) -> None:
    """One rule for every reader of the token (16 characters at least; a file others may read is named with
    the chmod): the agent refuses a short one before it calls anything, and says of an open file."""
    exe = Path(sys.executable).parent / "mlpower-agent"
    base = [str(exe), "run", "--director", "http://127.0.0.1:9", "--benchmark", "builtin", "--duration", "1"]
    short = subprocess.run([*base, "--token", "12345"], capture_output=True, text=True, timeout=60, check=False)
    assert short.returncode == 2 and "5 characters given; a token needs at least 16" in short.stderr
    token_file = tmp_path / "token"
    token_file.write_text("x" * 8 + "\n")
    refused = subprocess.run(
        [*base, "--token-file", str(token_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 2 and f"the token in {token_file} has 8 characters" in refused.stderr
    token_file.write_text("x" * 32 + "\n")
    token_file.chmod(0o644)
    opened = subprocess.run(
        [*base, "--token-file", str(token_file), "--retry-s", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f"chmod 600 {token_file}" in opened.stderr and "cannot reach the director" in opened.stderr


def test_the_agent_reads_the_error_code_and_falls_back_on_the_status() -> None:
    import httpx

    from agent.client import _error_reply
    from powerlog.wire import ErrorCode

    coded = httpx.Response(409, json={"detail": "meter busy: session x", "code": "meter_busy"})
    assert _error_reply(coded).code is ErrorCode.METER_BUSY and _error_reply(coded).detail == "meter busy: session x"
    plain = httpx.Response(409, json={"detail": "from a proxy"})
    assert _error_reply(plain).code is ErrorCode.SESSION_CONFLICT
    html = httpx.Response(502, text="<html>bad gateway</html>")
    assert _error_reply(html).code is ErrorCode.METER_FAILED and "bad gateway" in _error_reply(html).detail
    odd = httpx.Response(500, json={"detail": "x", "code": "no-such-code"})
    assert _error_reply(odd).code is ErrorCode.FAILED


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("/nonexistent/cmd", "does not exist"),
        ("no-such-program-mlpower", "is not on PATH"),
        ("{tmp}/plain.txt", "is not executable"),
    ],
)
def test_a_workload_that_cannot_start_is_refused_before_any_session(tmp_path: Path, command: str, why: str) -> None:
    """Found before the director is even asked (nothing listens at this URL): no session holds the meter
    through the settle time for a typo."""
    import subprocess
    import sys

    token = tmp_path / "token"
    token.write_text("t" * 32)
    (tmp_path / "plain.txt").write_text("not a program")
    command = command.format(tmp=tmp_path)
    agent = [sys.executable, "-m", "agent.cli", "run", "--director", "http://127.0.0.1:9", "--token-file", str(token)]
    result = subprocess.run(
        [*agent, "--out", str(tmp_path / "out"), "--", command], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and why in result.stderr and "cannot reach" not in result.stderr, result.stderr


def _agent_cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "mlpower-agent"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout_s, check=False)


def test_the_scenario_has_a_default_and_is_not_shown_as_required() -> None:
    result = _agent_cli("run", "--help")
    help_text = " ".join(result.stdout.split())
    assert result.returncode == 0 and "[--scenario S]" in help_text and "--scenario S [" not in help_text
    assert "(builtin; default Offline)" in help_text


def test_gpus_auto_without_nvidia_gpus_means_none_never_a_simulated_one() -> None:
    result = _agent_cli("gpus")
    if "GPU 0:" in result.stdout and "SIMULATED" not in result.stdout:
        pytest.skip("this machine has NVIDIA GPUs")
    assert result.returncode == 0 and "SIMULATED" not in result.stdout
    assert "--gpus auto: no NVIDIA GPU here" in result.stdout and "no GPU readings" in result.stdout
    assert "SIMULATED" in _agent_cli("gpus", "--gpus", "sim:1").stdout  # only when asked


def test_the_result_table_lists_the_official_checks_that_failed() -> None:
    from agent.cli import format_result
    from agent.run import SessionOutcome
    from powerlog.result_record import CheckRecord, OfficialCheckRecord, ReportRecord, ResultJson
    from powerlog.wire import SessionOpened, SessionState

    check = CheckRecord(
        verdict="pass",
        official_verdict="fail",
        official_checks=[
            OfficialCheckRecord(check="10.activated", title="PTDaemon started", outcome="fail", message="no log"),
            OfficialCheckRecord(check="4.power_change", title="ranging vs testing", outcome="pass"),
            OfficialCheckRecord(check="6.uncertainty", title="uncertainty below 1 %", outcome="fail"),
        ],
    )
    opened = SessionOpened(session_id="s1", session_name="n", server_uuid="u", settle_s=1, state=SessionState.OPEN,
                           session_secret="x" * 32, lease_s=30)  # fmt: skip
    table = format_result(SessionOutcome(opened, ResultJson(report=ReportRecord(), check=check), Path("out"), []))
    assert "Official check  FAIL" in table
    assert "  official 10.activated: no log" in table and "  official 6.uncertainty: uncertainty below 1 %" in table
    assert "4.power_change" not in table


@pytest.mark.slow
def test_a_wrong_token_says_where_the_right_one_is(tmp_path: Path) -> None:
    from tests.support.processes import start_director, stop

    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1")
    try:
        wrong = tmp_path / "old.token"
        wrong.write_text("w" * 32)
        result = _agent_cli("run", "--director", url, "--token-file", str(wrong), "--gpus", "none",
                            "--out", str(tmp_path / "out"), "--", "true", timeout_s=120)  # fmt: skip
    finally:
        stop(director)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "the director refused the token" in result.stderr
    assert f"check the token in the file {wrong} against RUNS_DIR/director.token" in result.stderr
