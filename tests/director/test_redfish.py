"""The Redfish meter against the SIMULATED BMC on real loopback sockets (HTTP and HTTPS), and on a real BMC
when ``MLPOWER_REDFISH_URL`` names one (skipped otherwise): readings at the device's own update rate, never a
stale one repeated, the older Power resource, certificates, credentials that never leak, faults and reconnects."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from director.errors import (
    MeterConfigError,
    MeterConnectionError,
    MeterError,
    MeterErrorReply,
    MeterProtocolError,
    MeterTimeoutError,
)
from director.meters.base import Meter
from director.meters.group import MeterGroup
from director.meters.redfish import BadReading, RedfishMeter, legacy_channel, supply_channel
from director.meters.redfish_transport import CredentialSource, RedfishCredentials, RedfishTransport
from director.meters.urls import open_meter, parse_meter_url
from director.sim.redfish import RedfishSimServer, SimAuth, SimFaults, SimulatedBmc
from director.sim.signal import Electrical, parse_signal
from powerlog.cli_support import stop_process
from powerlog.spl import PowerSample, read_spl
from tests.support.in_process import api_client, director_on
from tests.support.meter_reading import assert_every_update_once, read_for

USER, PASSWORD = "mlpower-admin", "pw-Zq7-never-shown"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BIN = Path(sys.executable).parent
HARDWARE_URL = os.environ.get("MLPOWER_REDFISH_URL")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="HTTPS needs the openssl command")


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    if HARDWARE_URL is None:
        monkeypatch.delenv("MLPOWER_REDFISH_USER", raising=False)
        monkeypatch.delenv("MLPOWER_REDFISH_PASSWORD", raising=False)


@pytest.fixture
def bmc_sim() -> Iterator[Callable[..., RedfishSimServer]]:
    """``bmc_sim(update_s=0.2, https=True, auth=SimAuth(...), legacy_only=True, ...)``: a started simulator."""
    started: list[RedfishSimServer] = []

    def start(*, https: bool = False, auth: SimAuth | None = None, signal: str = "constant:300",
              **bmc: object) -> RedfishSimServer:  # fmt: skip
        device = SimulatedBmc(parse_signal(signal), Electrical(), **bmc)  # type: ignore[arg-type]
        server = RedfishSimServer(device, https=https, auth=auth, faults=SimFaults()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _opened(url: str) -> Meter:
    meter = open_meter(url)
    meter.open()
    return meter


def _assert_no_stale_repeats(samples: list[PowerSample]) -> None:
    times = [s.t_utc_ns for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times)
    values = [(s.power_w, s.channels) for s in samples]
    assert all(a != b for a, b in itertools.pairwise(values)), "a reading was repeated as a sample"


# readings at the device's rate ---------------------------------------------------------------------------
def test_samples_come_at_the_devices_update_rate_one_per_update(bmc_sim) -> None:
    server = bmc_sim(update_s=0.3)
    meter = _opened(server.meter_url(0.1))
    try:
        identity = meter.identify()
        assert identity.simulated and identity.channels == 2 and not identity.dc
        assert identity.model == "Redfish BMC/PDU mlpower SIMULATED-REDFISH-BMC"
        assert "not an accepted power analyzer" in identity.raw and "PowerSubsystem" in identity.raw
        meter.read_ranges()
        meter.start("m", 100)  # polled three times per update
        samples = read_for(meter, 3.0, every_s=0.3)
    finally:
        meter.close()
    assert_every_update_once(samples, 10, 300_000_000)
    _assert_no_stale_repeats(samples)
    assert isinstance(meter, RedfishMeter) and meter.freshness == "ReadingTime"
    assert meter.skipped_stale >= 12  # the polls that found the same update again
    assert meter.update_interval_s is not None and 0.2 < meter.update_interval_s < 0.4
    assert not meter.rejected_lines
    for s in samples:
        assert len(s.channels) == 2 and s.power_w == pytest.approx(sum(c.power_w for c in s.channels))
        assert s.power_w == pytest.approx(300, rel=0.1) and s.mark == "m"
        assert all(225 < c.volts_v < 235 and c.amps_a > 0 and c.pf == -1 for c in s.channels)
    assert [e.cmd for e in meter.exchanges][:2] == ["GET /redfish/v1", "GET /redfish/v1/Chassis/1U"]


@pytest.mark.parametrize("freshness", ["reading-time", "etag", "none"])
def test_a_reading_that_stops_updating_is_never_repeated_and_is_counted(bmc_sim, freshness: str) -> None:
    server = bmc_sim(update_s=0.3, freshness=freshness, supplies=1)
    meter = _opened(server.meter_url(0.1))
    assert isinstance(meter, RedfishMeter)
    try:
        meter.start("m", 100)
        time.sleep(1.0)
        before = meter.read_new()
        assert len(before) >= 3
        server.bmc.freeze()  # a stuck sensor: the same value, time and ETag from now on
        time.sleep(0.15)  # a poll already under way may still bring the last update
        meter.read_new()
        skipped = meter.skipped_stale
        time.sleep(1.2)
        assert meter.read_new() == []
        assert meter.skipped_stale >= skipped + 8
        server.bmc.thaw()
        time.sleep(1.0)
        after = meter.read_new()
    finally:
        meter.close()
    assert len(after) >= 3  # updating again: read again
    _assert_no_stale_repeats(before + after)
    assert meter.freshness == {"reading-time": "ReadingTime", "etag": "ETag", "none": "value"}[freshness]
    assert len(before[0].channels) == 0 and before[0].amps_a > 0  # one supply: a single-channel sample


def test_stale_after_in_the_simulator_stops_the_samples(bmc_sim) -> None:
    server = bmc_sim(update_s=0.2, stale_after_s=0.8)
    meter = _opened(server.meter_url(0.1))
    try:
        meter.start("m", 100)
        samples = read_for(meter, 1.8, every_s=0.2)
    finally:
        meter.close()
    assert 1 <= len(samples) <= 4 and meter.skipped_stale >= 8
    _assert_no_stale_repeats(samples)


# the older Power resource ----------------------------------------------------------------------------
def test_the_older_power_resource_is_read_where_there_is_no_power_subsystem(bmc_sim) -> None:
    server = bmc_sim(update_s=0.2, legacy_only=True)
    meter = _opened(server.meter_url(0.1))
    try:
        identity = meter.identify()
        assert identity.channels == 1 and "the Power resource" in identity.raw and identity.simulated
        meter.start("legacy", 100)
        samples = read_for(meter, 1.5, every_s=0.3)
    finally:
        meter.close()
    assert 5 <= len(samples) <= 9
    _assert_no_stale_repeats(samples)
    assert all(s.channels == () and s.power_w == pytest.approx(300, rel=0.1) for s in samples)
    assert all(225 < s.volts_v < 235 and s.amps_a == -1 and s.pf == -1 for s in samples)
    with pytest.raises(MeterProtocolError, match="PowerSubsystem"):
        _opened(server.meter_url(0.1, source="subsystem"))


def test_source_legacy_reads_power_even_beside_a_power_subsystem(bmc_sim) -> None:
    server = bmc_sim(update_s=0.2)
    meter = _opened(server.meter_url(0.1, source="legacy"))
    try:
        assert "the Power resource" in meter.identify().raw
    finally:
        meter.close()


def test_a_reading_the_device_cannot_give_is_rejected_and_kept_not_sampled(bmc_sim) -> None:
    server = bmc_sim(update_s=0.2)
    meter = _opened(server.meter_url(0.1))
    assert isinstance(meter, RedfishMeter)
    try:
        meter.start("m", 100)
        server.bmc.unavailable = True  # null readings, as while the host is off
        time.sleep(0.8)
        meter.read_new()
        assert meter.read_new() == [] and len(meter.rejected_lines) >= 4
        assert "InputPowerWatts gives no reading" in meter.rejected_lines[-1].reason
        server.bmc.unavailable = False
        assert len(read_for(meter, 0.8, every_s=0.2)) >= 2
    finally:
        meter.close()


def test_reply_parsers_take_only_wall_power() -> None:
    metrics = {"InputPowerWatts": {"Reading": 412.5}, "InputVoltage": {"Reading": 229.0}}
    assert supply_channel(metrics) == supply_channel(metrics | {"InputCurrentAmps": None})
    assert supply_channel(metrics).amps_a == -1 and supply_channel({"PowerWatts": {"Reading": 7}}).power_w == 7
    assert supply_channel(metrics, {"Reading": 400.0, "ReadingTime": "t"}).power_w == 400.0
    for bad in ({}, {"InputPowerWatts": {"Reading": None}}, {"InputPowerWatts": {"Reading": -3}},
                {"InputPowerWatts": {"Reading": "412"}}, {"InputPowerWatts": {"Reading": True}}):  # fmt: skip
        with pytest.raises(BadReading):
            supply_channel(bad)
    power = {"PowerControl": [{"PowerConsumedWatts": 500}], "PowerSupplies": [{"LineInputVoltage": 231}]}
    assert legacy_channel(power).power_w == 500 and legacy_channel(power).volts_v == 231
    summed = {"PowerControl": [{}], "PowerSupplies": [{"PowerInputWatts": 200}, {"PowerInputWatts": 210}]}
    assert legacy_channel(summed).power_w == 410 and legacy_channel(summed).volts_v == -1
    with pytest.raises(BadReading):  # a supply's DC output is not what it draws from the wall
        legacy_channel({"PowerSupplies": [{"LastPowerOutputWatts": 380}]})


# HTTPS -------------------------------------------------------------------------------------------------
@needs_openssl
def test_https_with_the_ca_file_with_insecure_and_refused_without(bmc_sim) -> None:
    server = bmc_sim(https=True, update_s=0.2)
    assert server.cert_path is not None and server.cert_path.is_file()
    for url in (server.meter_url(0.1), server.meter_url(0.1, insecure="1")):
        meter = _opened(url)
        try:
            meter.start("tls", 100)
            assert len(read_for(meter, 0.9, every_s=0.3)) >= 2
        finally:
            meter.close()
    untrusted = f"redfish://127.0.0.1:{server.port}/1U"
    with pytest.raises(MeterConfigError, match=r"certificate is not trusted.*ca=PATH.*insecure=1"):
        _opened(untrusted)
    with pytest.raises(MeterConnectionError, match="protocol=http"):  # https to a plain-HTTP service
        _opened(bmc_sim().meter_url().replace("protocol=http", "rate=1"))


@needs_openssl
def test_a_rack_of_bmcs_shares_its_tls_contexts_and_a_replaced_ca_file_is_read_again(bmc_sim, tmp_path: Path) -> None:
    """A context that trusts the system's CAs loads the whole store (17 ms with the GIL held): 72 BMCs opening at a
    session's start stalled the director's event loop for over a second, each building its own."""
    server = bmc_sim(https=True, update_s=0.2)
    assert server.cert_path is not None
    ca = tmp_path / "ca.pem"
    shutil.copy(server.cert_path, ca)

    def context(verify: bool | Path) -> object:
        return RedfishTransport("127.0.0.1", server.port, verify=verify)._ssl_context()

    assert context(True) is context(True)
    assert context(False) is context(False) is not context(True)
    with_ca = context(ca)
    assert with_ca is context(ca) and with_ca is not context(True)
    before_ns = ca.stat().st_mtime_ns
    ca.write_bytes(server.cert_path.read_bytes())  # a renewed CA file: read again, not the cached one
    os.utime(ca, ns=(before_ns + 1_000_000_000, before_ns + 1_000_000_000))
    assert context(ca) is not with_ca
    meter = _opened(f"redfish://127.0.0.1:{server.port}/1U?ca={ca}&rate=0.1")  # and it still verifies
    try:
        meter.start("tls", 100)
        assert read_for(meter, 0.5, every_s=0.25)
    finally:
        meter.close()


# credentials -------------------------------------------------------------------------------------------
@needs_openssl
def test_credentials_from_a_file_or_the_environment_never_leak(
    bmc_sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, uvicorn: everything they log
    server = bmc_sim(https=True, update_s=0.2, auth=SimAuth(USER, PASSWORD))
    creds = tmp_path / "bmc.credentials"
    creds.write_text(f"{USER}\n{PASSWORD}\n")
    seen: list[str] = []
    for url in (server.meter_url(0.1, credentials=str(creds)), server.meter_url(0.1, auth="session")):
        monkeypatch.setenv("MLPOWER_REDFISH_USER", USER)
        monkeypatch.setenv("MLPOWER_REDFISH_PASSWORD", PASSWORD)
        meter = _opened(url)
        try:
            meter.start("creds", 100)
            assert len(read_for(meter, 0.7, every_s=0.3)) >= 2
            seen += [repr(meter), repr(vars(meter)), repr(vars(meter.transport)), meter.identify().raw, url]  # type: ignore[attr-defined]
            seen += [f"{e}" for e in meter.exchanges]
        finally:
            meter.close()
    assert server.faults.requests["POST /redfish/v1/SessionService/Sessions"] == 1
    assert sum(n for k, n in server.faults.requests.items() if k.startswith("DELETE ")) == 1  # logged out
    creds.write_text(f"{USER}:wrong-{PASSWORD}\n")
    with pytest.raises(MeterErrorReply) as refused:
        _opened(server.meter_url(credentials=str(creds)))
    assert "refused the credentials from the credentials file" in str(refused.value) and "HTTP 401" in str(
        refused.value
    )
    monkeypatch.setenv("MLPOWER_REDFISH_PASSWORD", "wrong-" + PASSWORD)
    with pytest.raises(MeterErrorReply, match="MLPOWER_REDFISH_USER/MLPOWER_REDFISH_PASSWORD") as env_refused:
        _opened(server.meter_url(auth="session"))
    for error in (refused.value, env_refused.value):
        seen += [str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    text = "\n".join(seen) + caplog.text
    assert PASSWORD not in text and BASIC not in text and "wrong-" not in text
    assert "X-Auth-Token" not in "\n".join(f"{e}" for e in meter.exchanges)


def test_a_credentials_file_others_can_read_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    creds = tmp_path / "bmc.credentials"
    creds.write_text(f"{USER}\n{PASSWORD}\n")
    creds.chmod(0o600)
    assert CredentialSource(creds).load() == RedfishCredentials(USER, PASSWORD, f"the credentials file {creds}")
    assert not caplog.records
    creds.chmod(0o644)
    CredentialSource(creds).load()  # still read: a warning, not a refusal
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "(mode 0644)" in record.getMessage() and f"chmod 600 {creds}" in record.getMessage()
    assert PASSWORD not in caplog.text


def test_auth_failures_say_what_to_do(bmc_sim, tmp_path: Path) -> None:
    server = bmc_sim(auth=SimAuth(USER, PASSWORD))
    with pytest.raises(
        MeterErrorReply, match=r"asks for credentials \(HTTP 401.*credentials=PATH.*MLPOWER_REDFISH_USER"
    ):
        _opened(server.meter_url())
    creds = tmp_path / "c"
    creds.write_text(f"{USER}\n{PASSWORD}\n")
    server.faults.auth_fault = 403
    with pytest.raises(MeterErrorReply, match=r"may not read this \(HTTP 403 Forbidden\).*ReadOnly"):
        _opened(server.meter_url(credentials=str(creds)))
    server.faults.auth_fault = None
    server.auth.sessions = False
    with pytest.raises(MeterErrorReply, match=r"session login failed \(HTTP 405.*use auth=basic"):
        _opened(server.meter_url(credentials=str(creds), auth="session"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(MeterConfigError, match="holds no user and password"):
        _opened(server.meter_url(credentials=str(tmp_path / "empty")))


def test_a_whole_session_records_no_credentials(bmc_sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's Director and session on a Redfish meter, unchanged: both phases measured, testing on Auto, and
    nothing in the run folder holds the password."""
    server = bmc_sim(update_s=0.4, auth=SimAuth(USER, PASSWORD), legacy_only=True)
    monkeypatch.setenv("MLPOWER_REDFISH_USER", USER)
    monkeypatch.setenv("MLPOWER_REDFISH_PASSWORD", PASSWORD)
    url = parse_meter_url(server.meter_url(0.2))
    token = "t" * 32
    director = director_on(url.text, tmp_path / "runs", token=token, interval_ms=url.interval_ms)
    with api_client(director, token) as api:
        opened = api.post(
            "/v1/sessions", json={"agent": {"label": "rf", "host": "sut"}, "client_uuid": str(uuid.uuid4())}
        )
        session_id = opened.json()["session_id"]
        for phase in ("ranging", "testing"):
            assert (
                api.post(f"/v1/sessions/{session_id}/phases/{phase}/start", json={"agent_utc_ns": 1}).status_code == 200
            )
            time.sleep(1.5)
            assert (
                api.post(f"/v1/sessions/{session_id}/phases/{phase}/stop", json={"agent_utc_ns": 1}).status_code == 200
            )
        assert api.post(f"/v1/sessions/{session_id}/close").status_code == 200
        folder = Path(api.get(f"/v1/sessions/{session_id}").json()["run_folder"])
    record = json.loads((folder / "session.json").read_text())
    assert record["simulated"] is True and "meter" in record["simulated_sources"]
    assert record["meter"]["url"] == url.text and "Redfish" in record["meter"]["identity"]["model"]
    assert record["phases"]["testing"]["ranges"] == {"volts_v": None, "amps_a": None}  # Auto: nothing to set
    assert record["meter_samples_skipped"] > 0  # polled every 0.2 s, updated every 0.4 s
    assert len(read_spl(folder / "run_1" / "spl.txt")) >= 2
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data and BASIC.encode() not in data, path


# faults ------------------------------------------------------------------------------------------------
def test_a_slow_service_times_out_then_reads_again(bmc_sim) -> None:
    server = bmc_sim(update_s=0.2)
    server.faults.slow_s = 1.0
    with pytest.raises(MeterTimeoutError, match=r"GET /redfish/v1'.*no reply within 0.3 s"):
        _opened(server.meter_url(0.1, timeout="0.3"))
    server.faults.slow_s = 0.0
    meter = _opened(server.meter_url(0.1, timeout="0.3"))
    try:
        meter.start("m", 100)
        time.sleep(0.6)
        assert meter.read_new()
        server.faults.slow_s = 1.0  # mid-measurement: the poll times out, read_new says so
        deadline = time.monotonic() + 5
        with pytest.raises(MeterTimeoutError):
            while time.monotonic() < deadline:
                meter.read_new()
                time.sleep(0.1)
    finally:
        meter.close()


@needs_openssl
def test_reconnects_after_the_simulator_restarts(bmc_sim) -> None:
    """What the session pump does after a lost meter: close, open, identify, start; samples come again."""
    server = bmc_sim(update_s=0.2, https=True)
    meter = _opened(server.meter_url(0.1))
    try:
        meter.start("m", 100)
        time.sleep(0.7)
        assert meter.read_new()
        server.stop(remove_certificate=False)  # the BMC reboots
        deadline = time.monotonic() + 5
        with pytest.raises(MeterConnectionError, match="cannot reach the Redfish service"):
            while time.monotonic() < deadline:
                meter.read_new()
                time.sleep(0.1)
        meter.close()
        with pytest.raises(MeterConnectionError):
            meter.open()
        server.start()  # the same port and certificate
        meter.close()
        meter.open()
        meter.identify()
        meter.start("m", 100)
        assert len(read_for(meter, 1.0, every_s=0.3)) >= 3
    finally:
        meter.close()


def test_a_group_of_redfish_meters_is_joined_and_has_no_ranges(bmc_sim) -> None:
    first, second = bmc_sim(update_s=0.2), bmc_sim(update_s=0.2, legacy_only=True)
    group = MeterGroup([open_meter(first.meter_url(0.2)), open_meter(second.meter_url(0.2))], 200)
    assert group.has_ranges is False
    with group:
        assert group.identify().channels == 3
        group.start("g", 200)
        samples = read_for(group, 2.0, every_s=0.4)
    assert len(samples) >= 4 and all(len(s.channels) == 3 for s in samples)


def test_the_chassis_is_found_when_the_url_names_none_and_a_wrong_one_is_named(bmc_sim) -> None:
    server = bmc_sim()
    meter = _opened(server.meter_url().replace("/1U?", "?"))
    try:
        assert "/redfish/v1/Chassis/1U" in meter.identify().raw
    finally:
        meter.close()
    with pytest.raises(MeterErrorReply, match=r"no chassis 'Blade9' \(its chassis: 1U\)"):
        _opened(server.meter_url().replace("/1U?", "/Blade9?"))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    with pytest.raises(MeterConnectionError, match=r"cannot reach the Redfish service at http://127\.0\.0\.1"):
        _opened(f"redfish://127.0.0.1:{closed_port}/1U?protocol=http&timeout=2")


# URLs ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redfish:///1U", "has no host"),
        ("redfish://bmc/1U/Power", "the path is one chassis Id"),
        ("redfish://bmc/1U?protocol=ftp", "protocol= must be https"),
        ("redfish://bmc/1U?insecure=yes", "insecure= must be 1"),
        ("redfish://bmc/1U?protocol=http&insecure=1", "are for https"),
        ("redfish://bmc/1U?insecure=1&ca=/etc/hostname", "not both"),
        ("redfish://bmc/1U?ca=/no/such/ca.pem", "ca=/no/such/ca.pem is not a file"),
        ("redfish://bmc/1U?credentials=/no/such/file", "credentials=/no/such/file is not a file"),
        ("redfish://bmc/1U?rate=0.01", "rate= is the poll interval in seconds, 0.1 to 60"),
        ("redfish://bmc/1U?rate=fast", "rate= is the poll interval"),
        ("redfish://bmc/1U?timeout=0", "timeout must be a positive number"),
        ("redfish://bmc/1U?auth=digest", "auth= must be basic"),
        ("redfish://bmc/1U?source=psu", "source= must be auto"),
        ("redfish://bmc/1U?model=wt310", "unknown option(s) model"),
        ("redfish://bmc:99999/1U", "invalid port"),
        ("redfsh://bmc/1U", "redfish://HOST/CHASSIS"),
    ],
)
def test_bad_redfish_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(MeterConfigError) as error:
        parse_meter_url(url)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "url",
    [f"redfish://root:{PASSWORD}@bmc/1U", f"redfish://root@bmc/1U?pass={PASSWORD}",
     f"redfish://bmc/1U?user=root&password={PASSWORD}", f"redfsh://root:{PASSWORD}@bmc/1U",
     f"ptd://a:{PASSWORD}@bmc:8888"],
)  # fmt: skip
def test_credentials_in_a_url_are_refused_and_not_shown(url: str) -> None:
    with pytest.raises(MeterConfigError, match="put no user or password in a meter URL") as error:
        parse_meter_url(url)
    assert PASSWORD not in str(error.value)


def test_good_redfish_urls() -> None:
    url = parse_meter_url("redfish://10.0.0.5/System.Embedded.1?rate=2&insecure=1")
    assert (url.host, url.port, url.path, url.interval_ms) == ("10.0.0.5", 443, "/System.Embedded.1", 2000)
    plain = parse_meter_url("redfish://[fe80::1]:8000/redfish/v1/Chassis/1?protocol=http")
    assert (plain.host, plain.port, plain.path, plain.interval_ms) == ("fe80::1", 8000, "/1", 1000)
    meter = open_meter("redfish://bmc.example/1?protocol=http&timeout=2")
    assert isinstance(meter, RedfishMeter) and meter.name == "redfish://bmc.example:80/1"
    assert meter.transport.timeout_s == 2 and not meter.transport.is_open  # nothing connected yet


# the command line --------------------------------------------------------------------------------------
@needs_openssl
def test_redfish_sim_command_prints_a_url_meter_probe_reads(tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [str(BIN / "mlpower-director"), "redfish-sim", "--https", "--rate", "0.2", "--signal", "constant:250",
         "--user", USER, "--password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        lines = [sim.stdout.readline() for _ in range(5)]
        assert lines[0].startswith("redfish-sim: SIMULATED Redfish BMC at https://127.0.0.1:"), lines
        assert lines[1].startswith("certificate: ") and "MLPOWER_REDFISH_USER" in lines[2], lines
        assert lines[3].startswith("meter URL: redfish://127.0.0.1:") and "ca=" in lines[3], lines
        url = lines[3].split()[-1]
        env = os.environ | {"MLPOWER_REDFISH_USER": USER, "MLPOWER_REDFISH_PASSWORD": PASSWORD}
        probe = subprocess.run(
            [str(BIN / "mlpower-director"), "meter-probe", url, "--samples", "3", "--interval-ms", "200"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "meter:   Redfish BMC/PDU mlpower SIMULATED-REDFISH-BMC   SIMULATED" in probe.stdout
        assert probe.stdout.count("Time,") == 3 and PASSWORD not in probe.stdout + probe.stderr
        refused = subprocess.run(
            [str(BIN / "mlpower-director"), "meter-probe", url], capture_output=True, text=True, timeout=60,
            check=False, env={k: v for k, v in os.environ.items() if not k.startswith("MLPOWER_REDFISH")},
        )  # fmt: skip
        assert refused.returncode == 2 and "asks for credentials (HTTP 401" in refused.stderr
    finally:
        stop_process(sim, timeout_s=10)
    assert PASSWORD not in (sim.stderr.read() if sim.stderr else "")


# a real BMC or PDU ---------------------------------------------------------------------------------------
@pytest.mark.skipif(HARDWARE_URL is None, reason="needs a real BMC: MLPOWER_REDFISH_URL=redfish://... (+ credentials)")
def test_real_bmc_readings() -> None:
    """The same reading assertions on a real device: identity, ten polls' worth of samples, none repeated."""
    assert HARDWARE_URL is not None
    url = parse_meter_url(HARDWARE_URL)
    meter = _opened(url.text)
    try:
        identity = meter.identify()
        assert identity.model.startswith("Redfish BMC/PDU") and not identity.simulated
        assert "not an accepted power analyzer" in identity.raw
        meter.read_ranges()
        meter.start("mlpower_hardware_test", url.interval_ms)
        samples = read_for(meter, 10.5 * url.interval_ms / 1000 + 2, every_s=url.interval_ms / 1000)
    finally:
        meter.close()
    assert len(samples) >= 3, f"only {len(samples)} samples in ten polls: does the device update that slowly?"
    _assert_no_stale_repeats(samples)
    assert all(s.power_w > 0 for s in samples) and not meter.rejected_lines
    assert isinstance(meter, RedfishMeter) and meter.freshness in ("ReadingTime", "ETag", "value")


def test_meter_error_messages_name_the_meter(bmc_sim) -> None:
    server = bmc_sim()
    server.faults.auth_fault = 401
    with pytest.raises(MeterError) as error:
        _opened(server.meter_url())
    assert str(error.value).startswith(f"redfish://127.0.0.1:{server.port}/1U, command 'GET /redfish/v1/Chassis/1U'")
