"""A new meter model costs its driver file, its simulator and its tests: the made-up ACME PM100
(tests/support/fictitious_meter.py) is picked up by the URL parser, open_meter, range derivation, the tiers,
``sim://``, ``meter-probe`` and ``mlpower-ptd`` with no other file changed; its driver runs on a
``ScriptedTransport`` script and on its simulator over a real pty."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from director.cli import build_parser as director_parser
from director.errors import MeterConfigError
from director.meters.ranges import Ranges, derive_testing_ranges, range_table_for
from director.meters.registry import meter_models, tier_of_url, url_models
from director.meters.scripted import ScriptedTransport
from director.meters.urls import open_meter, parse_meter_url
from director.ptd_front.cli import build_parser as ptd_parser
from director.ptd_front.cli import served_url_models
from powerlog.spl import PowerSample, format_spl_line, read_spl
from powerlog.tiers import MeasurementTier
from tests.support.fictitious_meter import ACME_TABLE, AcmePM100

URL = "serial:///dev/ttyUSB7?model=acme-pm100&rate=0.2"
NO_ERROR = ("SYST:ERR?", ['0,"No error"'])


def test_the_model_is_declared_and_found() -> None:
    assert AcmePM100.meter_model in meter_models()
    assert "acme-pm100" in url_models("serial") and "acme-pm100" in url_models("sim")


def test_parse_and_open_a_url_of_the_new_model() -> None:
    url = parse_meter_url(URL)
    assert (url.scheme, url.path, url.interval_ms) == ("serial", "/dev/ttyUSB7", 200)
    assert isinstance(open_meter(url), AcmePM100)
    assert isinstance(open_meter("serial+socket://converter:4001?model=acme-pm100"), AcmePM100)
    with pytest.raises(MeterConfigError, match=r"rate must be one of 0.2, 0.5, 1 \(seconds\)"):
        parse_meter_url("serial:///dev/ttyUSB7?model=acme-pm100&rate=0.1")
    with pytest.raises(MeterConfigError, match="acme-pm100"):
        parse_meter_url("serial:///dev/ttyUSB7?model=acme-pm999")


def test_ranges_and_tier_of_the_new_model(tmp_path: Path) -> None:
    assert range_table_for("AcmePM100") is ACME_TABLE
    spl = tmp_path / "spl.txt"
    t0 = 1_800_000_000 * 10**9
    spl.write_text(
        "".join(format_spl_line(PowerSample(t0 + i * 10**9, 300.0, 231.0, 1.5, 0.9, "r")) + "\n" for i in range(3))
    )
    ranging = read_spl(spl)
    assert derive_testing_ranges(ranging, table=range_table_for("AcmePM100")) == Ranges(250.0, 2.5)
    assert tier_of_url(URL) is MeasurementTier.DIRECT
    assert tier_of_url(f"{URL} + redfish://bmc/1") is MeasurementTier.BMC


def test_meter_probe_and_mlpower_ptd_list_the_new_model() -> None:
    assert "acme-pm100" in served_url_models()
    assert "ACME PM100 (serial:///dev/ttyUSB0?model=acme-pm100" in _probe_help()
    assert "acme-pm100" in " ".join(ptd_parser().format_help().split())


def _probe_help() -> str:
    parser = director_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        return " ".join(action.choices["meter-probe"].format_help().split())  # type: ignore[index]
    return ""


def test_the_driver_follows_a_script() -> None:
    transport = ScriptedTransport(
        [
            ("*IDN?", ["ACME,PM100,SN42,2.1"]),
            ("RANGE:VOLT?", ["AUTO"]),
            ("RANGE:CURR?", ["AUTO"]),
            ("RANGE:VOLT 250", []),
            NO_ERROR,
            ("RANGE:CURR 2.5", []),
            NO_ERROR,
            ("INTERVAL 500", []),
            NO_ERROR,
            ("DATA:NEW?", ["0"]),
            ("DATA:NEW?", ["1"]),
            ("MEAS?", ["230.1,1.3,270.5,0.9"]),
            ("DATA:NEW?", ["x"]),
        ]
    )
    meter = AcmePM100(transport)
    with meter:
        identity = meter.identify()
        assert (identity.model, identity.version, identity.channels, meter.identities) == (
            "AcmePM100",
            "2.1",
            1,
            [identity],
        )
        assert meter.read_ranges() == Ranges(None, None) and meter.has_ranges
        meter.set_ranges(Ranges(240.0, 2.0))
        meter.start("testing", 500)
        deadline = time.monotonic() + 5
        while meter.poll_error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        samples = meter.read_new_with_uncertainty()
        meter.stop()
    assert [(s.power_w, s.volts_v, s.mark, u) for s, u in samples] == [(270.5, 230.1, "testing", 0.002)]
    assert meter.rejected_lines[0].reason == "DATA:NEW? is not 0 or 1"
    assert transport.finished


def test_the_simulated_model_on_a_pty_through_sim_url() -> None:
    meter = open_meter("sim://?model=acme-pm100&rate=0.2&signal=constant:150")
    assert isinstance(meter, AcmePM100)
    with meter:
        assert meter.identify().simulated
        meter.read_ranges()
        meter.set_ranges(Ranges(230.0, 1.0))
        meter.start("ranging", 200)
        time.sleep(1.0)
        samples = meter.read_new()
        meter.stop()
        meter.restore_ranges()
    assert len(samples) >= 3 and all(abs(s.power_w - 150.0) < 1e-6 for s in samples)
