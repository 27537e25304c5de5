"""A whole session on a BMC, every part its own process: ``mlpower-director redfish-sim`` (a SIMULATED BMC over
HTTPS, asking for credentials), ``mlpower-director serve --meter redfish://...`` and the agent running the built-in
benchmark. While it runs, the dashboard's page and live feed show the BMC's wall readings and its tier; after it,
the run folder is complete, says it was measured by a BMC, the analyzer calls that INFORMATIVE and the official
verdict fails for it, and the BMC's password is in no file and no output."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from powerlog.layout import REQUIRED_FILES
from powerlog.spl import read_spl
from powerlog.tiers import MeasurementTier, tier_description
from tests.support.processes import BIN, agent_argv, start_director, start_redfish_sim, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="redfish-sim --https needs the openssl command"),
]

USER, PASSWORD = "mlpower-reader", "pw-Kx4-only-in-the-credentials-file"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
WATTS = 300  # the simulator's constant signal, shared by its two power supplies
BMC = tier_description(MeasurementTier.BMC)
LIVE_READINGS = 5


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The director must get them from the file the URL names, nowhere else."""
    monkeypatch.delenv("MLPOWER_REDFISH_USER", raising=False)
    monkeypatch.delenv("MLPOWER_REDFISH_PASSWORD", raising=False)


def _sse_events(response: httpx.Response, deadline: float):  # type: ignore[no-untyped-def]
    """(event, data) of a server-sent event stream, until the deadline."""
    frame: list[str] = []
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            return
        if line:
            frame.append(line)
            continue
        fields = dict(f.split(": ", 1) for f in frame if not f.startswith(":") and ": " in f)
        frame = []
        if "event" in fields and "data" in fields:
            yield fields["event"], json.loads(fields["data"])


def _watch_live(url: str, token: str, agent: subprocess.Popen[str]) -> tuple[dict, list[dict]]:
    """The dashboard's feed while the agent runs: its snapshot and the power events, until enough readings."""
    snapshot: dict = {}
    power: list[dict] = []
    deadline = time.monotonic() + 60
    with httpx.stream("GET", f"{url}/v1/live", headers={"Authorization": f"Bearer {token}"}, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for event, data in _sse_events(response, deadline):
            if event == "snapshot":
                snapshot = data
            elif event == "power":
                power.append(data)
                if sum(len(p["power_w"]) for p in power) >= LIVE_READINGS:
                    break
            if agent.poll() is not None:
                break
    return snapshot, power


def test_a_session_on_a_simulated_bmc_end_to_end(tmp_path: Path) -> None:
    credentials = tmp_path / "bmc.credentials"
    credentials.write_text(f"{USER}\n{PASSWORD}\n")
    credentials.chmod(0o600)
    runs = tmp_path / "runs"
    sim = director = agent = None
    try:
        sim, sim_url = start_redfish_sim("--https", "--rate", "0.2", "--signal", f"constant:{WATTS}",
                                         "--user", USER, "--password", PASSWORD)  # fmt: skip
        assert "ca=" in sim_url and "rate=0.2" in sim_url  # HTTPS, the simulator's own certificate trusted
        meter_url = f"{sim_url}&credentials={credentials}"
        director, url = start_director(runs, meter_url)
        token = (runs / "director.token").read_text().strip()
        page = httpx.get(f"{url}/", timeout=30)
        assert page.status_code == 200 and 'id="tier-line"' in page.text and "/static/dashboard.js" in page.text
        argv = agent_argv(url, runs, tmp_path / "agent", "--label", "bmc", "--benchmark", "builtin",
                          "--scenario", "Offline", "--duration", "4", "--gpus", "sim:2")  # fmt: skip
        agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        # live: the snapshot names the meter's tier, the power events carry the BMC's readings
        snapshot, power = _watch_live(url, token, agent)
        assert snapshot["meter_url"] == meter_url
        assert snapshot["tier"] == {"name": "bmc", "description": BMC, "informative": True}
        readings = [w for p in power for w in p["power_w"]]
        assert len(readings) >= LIVE_READINGS, power
        assert all(WATTS * 0.9 < w < WATTS * 1.1 for w in readings), readings
        times = [t for p in power for t in p["t_utc_ns"]]
        assert times == sorted(times) and len(set(times)) == len(times)  # each BMC update once, in order
        assert all(len(row) == 2 for p in power for row in p["channels_w"])  # one channel per power supply
        assert {p["phase"] for p in power} <= {"ranging", "testing"}

        output, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, output
        listed = httpx.get(f"{url}/v1/runs", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert [r["tier"] for r in listed] == [{"name": "bmc", "description": BMC, "informative": True}]
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        stop(director, sim)

    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    for name in REQUIRED_FILES:
        assert (folder / name).is_file(), name
    assert len(read_spl(folder / "run_1" / "spl.txt")) >= 5 and len(read_spl(folder / "ranging" / "spl.txt")) >= 5
    record = json.loads((folder / "session.json").read_text())
    assert record["tier"] == "bmc" and record["state"] == "closed"
    assert record["meter"]["url"] == meter_url and record["simulated"] is True
    assert record["meter"]["identity"]["model"] == "Redfish BMC/PDU mlpower SIMULATED-REDFISH-BMC"

    report = subprocess.run([str(BIN / "mlpower-analyzer"), "report", str(folder)], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    (tier_line,) = [line for line in report.stdout.splitlines() if line.lstrip().startswith("Tier")]
    assert "bmc" in tier_line and "INFORMATIVE" in tier_line and BMC in tier_line, report.stdout + report.stderr

    checked = subprocess.run([str(BIN / "mlpower-analyzer"), "check", "--json", str(folder)], capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
    summary = json.loads(checked.stdout)
    assert summary["official_verdict"] == "fail" and checked.returncode == 1
    tier_checks = [c for c in summary["official_checks"] if c["check"] == "tier"]
    assert tier_checks == [{"check": "tier", "title": "Measurement tier", "outcome": "fail", "message": f"bmc: {BMC}"}]
    (rule,) = [f for f in summary["findings"] if f["rule"] == "8.tier"]
    assert rule["status"] == "fail" and rule["severity"] == "error" and rule["message"] == f"bmc: {BMC}"
    text = subprocess.run([str(BIN / "mlpower-analyzer"), "check", str(folder)], capture_output=True, text=True,
                          timeout=120, check=False).stdout  # fmt: skip
    assert f"official fail: Measurement tier: bmc: {BMC}" in text and "official verdict: FAIL" in text

    # the password: in the credentials file, and nowhere the session left anything
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) >= len(REQUIRED_FILES)
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and BASIC.encode() not in data, path
    assert director is not None and director.stdout is not None and director.stderr is not None
    logged = director.stdout.read() + director.stderr.read() + output
    assert PASSWORD not in logged and BASIC not in logged
