"""The director process: one per runs folder, nothing written before its folder and port are held, and a
SIGTERM that ends its live session with the reason and leaves the meter stopped. Real processes throughout."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.http_sessions import carry_session_secret
from tests.support.processes import BIN, start_director, stop, text_lines, wait_for

SIM_METER = "sim://?rate=0.1&signal=constant:100"
LONG_LEASE = ("--lease-s", "600")  # the sessions here are driven by hand, with pauses between calls


def _state(folder: Path) -> dict:
    return json.loads((folder / "session.json").read_text())


@pytest.fixture
def agent_http() -> Iterator[Callable[[str, Path], httpx.Client]]:
    """An httpx client speaking for an agent: the director's token, and the secret of the session it opens."""
    clients: list[httpx.Client] = []

    def make(url: str, runs: Path) -> httpx.Client:
        token = (runs / "director.token").read_text().strip()
        client = carry_session_secret(
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _open(client: httpx.Client) -> tuple[str, Path]:
    opened = client.post(
        "/v1/sessions", json={"agent": {"label": "rack7", "host": "sut7"}, "client_uuid": str(uuid.uuid4())}
    )
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["session_id"]
    return session_id, Path(client.get(f"/v1/sessions/{session_id}").json()["run_folder"])


def _phase(client: httpx.Client, session_id: str, phase: str, action: str) -> None:
    reply = client.post(f"/v1/sessions/{session_id}/phases/{phase}/{action}", json={"agent_utc_ns": time.time_ns()})
    assert reply.status_code == 200, reply.text


def _serve(runs: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "mlpower-director"), "serve", "--meter", SIM_METER, "--out", str(runs), "--port", str(port)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_second_serve_on_the_same_folder_or_port_leaves_the_first_ones_session_alone(
    agent_http, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    first, url = start_director(runs, SIM_METER, extra=LONG_LEASE)
    try:
        port = int(url.rsplit(":", 1)[1])
        client = agent_http(url, runs)
        session_id, folder = _open(client)
        _phase(client, session_id, "ranging", "start")
        spl = folder / "ranging" / "spl.txt"
        wait_for(lambda: text_lines(spl) >= 5, 60, "ranging samples")
        record_before = _state(folder)
        token_before = (runs / "director.token").read_bytes()

        # the same folder, another port: refused, naming the holder; nothing of the first one touched
        second = _serve(runs, 0)
        assert second.returncode == 2, second.stdout + second.stderr
        assert (
            f"another mlpower-director (pid {first.pid}, listening on 127.0.0.1:{port} since " in second.stderr
            and f") holds {runs}; stop it or use another --out" in second.stderr
        ), second.stderr
        assert "director listening" not in second.stdout and "recovered" not in second.stdout
        assert (runs / "director.token").read_bytes() == token_before
        seen = text_lines(spl)
        wait_for(lambda: text_lines(spl) >= seen + 5, 60, "the first director's session to keep recording")
        record_after = _state(folder)
        assert record_after["state"] == record_before["state"] == "ranging" and record_after["error"] is None

        # another folder, the same port: address in use, and that folder gets no token
        other = tmp_path / "other"
        third = _serve(other, port)
        assert third.returncode == 2, third.stdout + third.stderr
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in third.stderr
        assert not (other / "director.token").exists()

        _phase(client, session_id, "ranging", "stop")  # the first director's session goes on
        assert client.get(f"/v1/sessions/{session_id}").json()["state"] == "ranged"
    finally:
        stop(first)


def test_a_folder_whose_director_was_killed_is_free_again(tmp_path: Path) -> None:
    """The lock is the kernel's: a director killed with SIGKILL leaves its lock file, not its lock."""
    runs = tmp_path / "runs"
    first, _ = start_director(runs, SIM_METER)
    first.kill()
    first.wait()
    again, url = start_director(runs, SIM_METER)
    try:
        holder = json.loads((runs / "director.lock").read_text())
        assert holder["pid"] == again.pid and url.endswith(holder["address"])
    finally:
        stop(again)


def test_sigterm_aborts_the_live_session_with_the_reason_and_stops_ptdaemon(
    agent_http, ptd_sim, tmp_path: Path
) -> None:
    sim = ptd_sim("--signal", "constant:150")
    runs = tmp_path / "runs"
    director, url = start_director(runs, sim.url, settle_s=0, extra=LONG_LEASE)
    try:
        client = agent_http(url, runs)
        session_id, folder = _open(client)
        _phase(client, session_id, "ranging", "start")
        wait_for(lambda: text_lines(folder / "ranging" / "spl.txt") >= 3, 60, "ranging samples")
        _phase(client, session_id, "ranging", "stop")
        _phase(client, session_id, "testing", "start")
        wait_for(lambda: text_lines(folder / "run_1" / "spl.txt") >= 2, 60, "testing samples")
        assert _state(folder)["state"] == "testing"
        director.send_signal(signal.SIGTERM)
        output, errors = director.communicate(timeout=60)
    finally:
        stop(director)
    record = _state(folder)
    assert record["state"] == "failed" and record["error"] == "director stopped (SIGTERM)", record["error"]
    assert text_lines(folder / "run_1" / "spl.txt") >= 2  # what was measured is kept
    # PTDaemon was told to stop, and is free: a probe can measure at once
    log = sim.log_path.read_text()
    assert log.rfind("Stop command received") > log.rfind("Go with mark"), log[-2000:]
    probe = subprocess.run(
        [str(BIN / "mlpower-director"), "meter-probe", sim.url, "--samples", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stdout + probe.stderr
    # serve said what happened to the session, one line per event
    events = [line.split(" ", 2)[2] for line in output.splitlines() if f"session {session_id}:" in line]
    assert events == [
        f"session {session_id}: opened by agent 'rack7' on sut7",
        f"session {session_id}: ranging started",
        f"session {session_id}: ranging stopped ({text_lines(folder / 'ranging' / 'spl.txt')} wall samples)",
        f"session {session_id}: testing started",
        f"session {session_id}: failed: director stopped (SIGTERM)",
    ], output + errors


def test_serve_refuses_a_sample_log_as_ptd_log_a_short_token_and_warns_of_an_open_token_file(tmp_path: Path) -> None:
    sample_log = tmp_path / "ptd_samples.txt"
    sample_log.write_text(
        "Time,08-03-2022 21:39:37.136,Watts,664.000000,Volts,230.1,Amps,2.9,PF,0.99,Mark,x_ranging\r\n"
    )
    serve = [str(BIN / "mlpower-director"), "serve", "--meter", "ptd://127.0.0.1:1", "--port", "0"]
    refused = subprocess.run(
        [*serve, "--out", str(tmp_path / "a"), "--ptd-log", str(sample_log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "is PTDaemon's sample log (the -l file" in refused.stderr and "wants PTDaemon's debug log" in refused.stderr
    assert not (tmp_path / "a" / "director.token").exists()
    short = subprocess.run(
        [*serve, "--out", str(tmp_path / "b"), "--token", "12345"], capture_output=True, text=True, timeout=120
    )
    assert short.returncode == 2 and "a token needs at least 16 characters" in short.stderr
    token_file = tmp_path / "token"
    token_file.write_text("x" * 32 + "\n")
    token_file.chmod(0o644)
    director = subprocess.Popen(
        [*serve, "--out", str(tmp_path / "c"), "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert director.stdout is not None and director.stdout.readline().startswith("director listening on ")
        assert director.stderr is not None
        warnings = [director.stderr.readline() for _ in range(2)]
    finally:
        stop(director)
    assert (
        f"the token file {token_file} can be read or written by others than its owner (mode 0644): chmod 600"
        in warnings[0]
    )
    # a PTDaemon meter with no --ptd-log: the run's ptd_logs.txt would be empty and 10.activated fail
    assert "no --ptd-log" in warnings[1] and "10.activated will fail" in warnings[1], warnings
