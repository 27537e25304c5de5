"""DNS rebinding: the token-less read routes of a loopback director (and of a ``watch`` without a token) answer
only to a loopback ``Host``. A web page whose name an attacker rebinds to 127.0.0.1 reaches the port, but its
requests carry the page's own name as Host: 403. With the token they work through any Host, as before.
Real ``mlpower-director serve`` and ``watch`` processes on loopback, asked over real sockets."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from director.dashboard import is_loopback_host
from powerlog.run_record import SessionJson, write_session_json
from tests.support.processes import BIN, start_director, stop

RUN = "2026-01-01_00-00-00_host"
READ_PATHS = ["/v1/live", "/v1/live/snapshot", "/v1/runs", f"/v1/runs/{RUN}/report.html"]
FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil.example:{port}",
                 "10.0.0.1:{port}", "[::2]:{port}"]  # fmt: skip
LOOPBACK_HOSTS = ["127.0.0.1:{port}", "localhost", "localhost:{port}", "LOCALHOST.:{port}", "[::1]:{port}",
                  "127.8.9.10"]  # fmt: skip


@pytest.fixture(scope="module")
def director(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A loopback director (token-less reads) with one closed run and its report; its URL and token."""
    runs = tmp_path_factory.mktemp("host") / "runs"
    folder = runs / RUN
    folder.mkdir(parents=True)
    write_session_json(folder / "session.json", SessionJson(state="closed", simulated=True))
    (folder / "report.html").write_text("<html>report</html>")
    process, url = start_director(runs, "sim://?rate=0.1&signal=constant:100")
    try:
        yield url, (runs / "director.token").read_text().strip()
    finally:
        stop(process)


def _get(url: str, path: str, host: str, token: str | None = None) -> tuple[int, str]:
    """The status and the start of the body of GET path with this Host (the live stream is left after its first
    line: it does not end)."""
    headers = {"Host": host.format(port=url.rsplit(":", 1)[1])}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.stream("GET", url + path, headers=headers, timeout=30) as reply:
        first = next(reply.iter_lines(), "") if path == "/v1/live" and reply.status_code == 200 else reply.read()
        return reply.status_code, first if isinstance(first, str) else first.decode()


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize("path", READ_PATHS)
def test_a_foreign_host_is_refused_without_the_token(director, path: str, host: str) -> None:
    url, _ = director
    status, body = _get(url, path, host)
    assert status == 403, body
    reply = httpx.Response(403, content=body).json()
    assert reply["code"] == "forbidden"
    assert "is not loopback" in reply["detail"] and "Authorization: Bearer" in reply["detail"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
@pytest.mark.parametrize("path", READ_PATHS)
def test_a_loopback_host_reads_without_the_token(director, path: str, host: str) -> None:
    url, _ = director
    status, body = _get(url, path, host)
    assert status == 200, body
    if path == "/v1/live":
        assert body == "event: snapshot"


@pytest.mark.parametrize("path", READ_PATHS)
def test_the_token_reads_through_any_host(director, path: str) -> None:
    url, token = director
    assert _get(url, path, "evil.example", token)[0] == 200
    assert _get(url, path, "evil.example", "not-the-token" * 2)[0] == 401


def test_token_routes_and_the_page_do_not_look_at_the_host(director) -> None:
    """The agent's routes need the token whatever the Host (an agent may name the director any way); the page and
    its assets hold no data."""
    url, token = director
    assert _get(url, "/v1/time", "director.lab.example:8000", token)[0] == 200
    assert _get(url, "/v1/time", "director.lab.example:8000")[0] == 401
    assert _get(url, "/", "evil.example")[0] == 200
    assert _get(url, "/health", "evil.example")[0] == 200


def test_watch_without_a_token_answers_only_to_a_loopback_host(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(BIN / "mlpower-director"), "watch", str(tmp_path / "ptd_logfile.log"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("watching ")
        url = process.stdout.readline().split()[3].rstrip("/")
        assert url.startswith("http://127.0.0.1:"), url
        for path in ("/v1/live", "/v1/runs", "/metrics"):
            assert _get(url, path, "evil.example:{port}")[0] == 403, path
            assert _get(url, path, "localhost:{port}")[0] == 200, path
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("localhost:1", True), ("localhost.", True), ("127.0.0.1", True), ("127.255.0.1:80", True),
     ("[::1]", True), ("[::1]:8000", True), ("::1", True), ("[0:0:0:0:0:0:0:1]:8", True),
     (None, False), ("", False), ("evil.example", False), ("127.0.0.1.nip.io", False), ("localhost.evil", False),
     ("128.0.0.1", False), ("0.0.0.0", False), ("[::]:80", False), ("[::1", False), ("2130706433", False)],
)  # fmt: skip
def test_which_hosts_are_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
