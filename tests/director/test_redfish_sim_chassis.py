"""Several SIMULATED chassis behind one ``redfish-sim`` (``--chassis N``): each its own BMC, read by its own
``redfish://HOST/C<i>`` meter URL, as a rack's BMCs are simulated in one process (``benchmarks/bench_rack.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from director.meters.urls import open_meter
from director.sim.redfish import RedfishSimServer, SimulatedBmc
from director.sim.redfish.server import chassis_ids
from director.sim.signal import Electrical, parse_signal
from powerlog.cli_support import stop_process
from tests.support.meter_reading import read_for

BIN = Path(sys.executable).parent


def test_each_chassis_is_its_own_bmc_read_by_its_own_url() -> None:
    watts = {"C1": 300.0, "C2": 900.0}
    bmcs = [SimulatedBmc(parse_signal(f"constant:{w:g}"), Electrical(noise=0), update_s=0.2, chassis_id=c)
            for c, w in watts.items()]  # fmt: skip
    with RedfishSimServer(bmcs) as server:
        listed = httpx.get(f"{server.base_url}/redfish/v1/Chassis").json()
        assert [m["@odata.id"] for m in listed["Members"]] == ["/redfish/v1/Chassis/C1", "/redfish/v1/Chassis/C2"]
        assert httpx.get(f"{server.base_url}/redfish/v1/Chassis/1U").status_code == 404
        for chassis, power_w in watts.items():
            url = server.meter_url(0.1, chassis)
            assert f"/{chassis}?" in url
            meter = open_meter(url)
            meter.open()
            try:
                meter.identify()
                meter.read_ranges()
                meter.start("m", 100)
                samples = read_for(meter, 0.7, every_s=0.2)
            finally:
                meter.close()
            assert samples and all(s.power_w == pytest.approx(power_w, rel=0.02) for s in samples), chassis
            assert [e.cmd for e in meter.exchanges][1] == f"GET /redfish/v1/Chassis/{chassis}"


def test_one_chassis_keeps_its_usual_id_and_two_may_not_share_one() -> None:
    assert chassis_ids(1) == ["1U"] and chassis_ids(3) == ["C1", "C2", "C3"]
    same = [SimulatedBmc(parse_signal("constant:1"), Electrical()) for _ in range(2)]
    with pytest.raises(ValueError, match="chassis ids of their own"):
        RedfishSimServer(same).start()


def test_the_command_prints_a_meter_url_per_chassis() -> None:
    process = subprocess.Popen([str(BIN / "mlpower-director"), "redfish-sim", "--chassis", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
    finally:
        stop_process(process)
    assert "3 chassis" in lines[0] and "SIMULATED" in lines[0]
    urls = [line.split()[-1] for line in lines if line.startswith("meter URL: ")]
    assert [u.split("?")[0].rsplit("/", 1)[-1] for u in urls] == ["C1", "C2", "C3"], lines
