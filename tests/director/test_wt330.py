"""The WT330-family (WT332/WT333, several elements) SCPI driver: scripted exchanges, the simulated WT333 on a
real pty, the sim:// URL, and ``meter-sim --serial --model wt333`` as a subprocess."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from director.errors import MeterConfigError, MeterErrorReply, MeterProtocolError
from director.meters.ranges import Ranges, range_table_for
from director.meters.scripted import ScriptedTransport
from director.meters.urls import open_meter, parse_meter_url
from director.meters.yokogawa import (
    YokogawaWT310,
    YokogawaWT330,
    elements_of_model,
    elements_power_uncertainty,
    parse_element_values,
)
from director.sim.signal import ConstantSignal, Electrical
from director.sim.wt3xx import ScpiWT300, ScpiWT310, element_shares
from powerlog.spl import ChannelSample, format_spl_line, read_spl
from tests.support.meter_reading import assert_every_update_once, read_for
from tests.support.processes import serial_session

BIN = Path(sys.executable).parent
OK = ['0,"No error"']
# U, I, P, lambda of three elements: 120 + 80 + 40 W = 240 W
THREE = (
    "2.3010E+02,7.0000E-01,1.2000E+02,7.4500E-01,"
    "2.3020E+02,5.0000E-01,8.0000E+01,6.9500E-01,"
    "2.2990E+02,3.0000E-01,4.0000E+01,5.8000E-01"
)
THREE_OVER = THREE.replace("5.0000E-01,8.0000E+01", "9.91E+37,9.91E+37")  # element 2 overranged


class IdleWhenDone(ScriptedTransport):
    """The script, then 'no new update' to every EESR poll, so the driver's poll thread idles instead of failing."""

    def _send(self, data: bytes, command: str) -> None:
        if not self.script and command == ":STATUS:EESR?":
            self.lines = [b"0\r\n"]
            return
        super()._send(data, command)


def _setting(command: str) -> list[tuple[str, list[str]]]:
    return [(command, []), (":STATUS:ERROR?", OK)]


def test_element_count_from_the_model_name() -> None:
    assert [elements_of_model(m) for m in ("WT310", "WT310E", "WT332", "wt332e", "WT333", "WT333E")] == [
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert elements_of_model("WT500") is None and elements_of_model("PM9000") is None
    assert range_table_for("YokogawaWT333E") is range_table_for("YokogawaWT332") is range_table_for("WT330")


def test_element_values_parse_and_refuse_any_bad_element() -> None:
    channels = parse_element_values(THREE, 3)
    assert channels == (
        ChannelSample(power_w=120.0, volts_v=230.1, amps_a=0.7, pf=0.745),
        ChannelSample(power_w=80.0, volts_v=230.2, amps_a=0.5, pf=0.695),
        ChannelSample(power_w=40.0, volts_v=229.9, amps_a=0.3, pf=0.58),
    )
    with pytest.raises(MeterProtocolError, match=r"I,2 has no valid value"):
        parse_element_values(THREE_OVER, 3)
    for bad in (THREE + ",1.0", THREE.rsplit(",", 1)[0], THREE.replace("5.8000E-01", "NAN"), THREE[:-3] + "#x!"):
        with pytest.raises(MeterProtocolError):
            parse_element_values(bad, 3)
    with pytest.raises(MeterProtocolError, match="expected 8 values"):
        parse_element_values(THREE, 2)


@given(st.text(max_size=120), st.integers(min_value=2, max_value=3))
def test_element_parser_raises_only_typed_errors(reply: str, elements: int) -> None:
    with contextlib.suppress(MeterProtocolError):
        parse_element_values(reply, elements)


def test_uncertainty_adds_the_elements_absolute_uncertainties() -> None:
    # 0.1 % of 100 W + 3 x 0.1 % of 300 V x 1 A = 1 W of 100 W
    assert elements_power_uncertainty([50.0, 30.0, 20.0], Ranges(300.0, 1.0)) == pytest.approx(0.01)
    assert elements_power_uncertainty([50.0, 30.0, 20.0], Ranges(300.0, None)) is None
    assert elements_power_uncertainty([0.0, 0.0], Ranges(300.0, 1.0)) is None


def test_scripted_session_configures_all_elements_and_reads_a_sample() -> None:
    items = [f"{item},{e}" for e in (1, 2, 3) for item in ("U", "I", "P", "LAMBDA")]
    script = [
        ("*IDN?", ["YOKOGAWA,WT333E,C2WL21005V,F1.02"]),
        # one answer per element for each of the four queries
        (
            ":VOLTAGE:RANGE?;AUTO?;:CURRENT:RANGE?;AUTO?",
            ["150.0E+00;150.0E+00;150.0E+00;0;0;0;1.0E+00;1.0E+00;2.0E+00;0;0;0"],
        ),
        *_setting(":VOLTAGE:RANGE 300"),
        *_setting(":CURRENT:RANGE 1"),
        *_setting(":RATE 100MS"),
        *_setting(":NUMERIC:NORMAL:NUMBER 12"),
        *[step for i, item in enumerate(items, start=1) for step in _setting(f":NUMERIC:NORMAL:ITEM{i} {item}")],
        *_setting(":STATUS:FILTER1 FALL"),
        (":STATUS:EESR?", ["0"]),  # the clearing read
        (":STATUS:EESR?", ["1"]),
        (":NUMERIC:NORMAL:VALUE?", [THREE]),
        (":STATUS:EESR?", ["1"]),
        (":NUMERIC:NORMAL:VALUE?", [THREE_OVER]),
    ]
    transport = IdleWhenDone(script)
    meter = YokogawaWT330(transport)
    identity = meter.identify()
    assert (identity.model, identity.channels, identity.version, identity.simulated) == (
        "YokogawaWT333E",
        3,
        "F1.02",
        False,
    )
    assert meter.read_ranges() == Ranges(150.0, 2.0)  # elements differ: the largest range
    meter.set_ranges(Ranges(206.0, 0.7))
    assert meter.ranges == Ranges(300.0, 1.0)
    meter.start("r_testing", 100)
    deadline = time.monotonic() + 5
    while (transport.script or not meter.rejected_lines) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert meter.stop()
    assert transport.script == []
    (sample,) = meter.read_new()
    assert sample.power_w == pytest.approx(240.0) and (sample.volts_v, sample.amps_a, sample.pf) == (-1.0, -1.0, -1.0)
    assert [ch.power_w for ch in sample.channels] == [120.0, 80.0, 40.0] and sample.mark == "r_testing"
    line = format_spl_line(sample)
    assert "Watts,240.000000,Volts,-1.000000" in line and ",Ch3,Watts,40.000000,Volts,229.900000," in line
    assert meter.uncertainties == [pytest.approx((0.001 * 240 + 3 * 0.001 * 300) / 240)]
    (rejected,) = meter.rejected_lines
    assert "I,2 has no valid value" in rejected.reason and rejected.text == THREE_OVER


def test_start_identifies_first_and_ranges_read_once_for_all_elements() -> None:
    script = [
        (":VOLTAGE:RANGE?;AUTO?;:CURRENT:RANGE?;AUTO?", [":VOLT:RANG 300.0E+00;AUTO 0;:CURR:RANG 5.0E+00;AUTO 1"]),
        ("*IDN?", ["YOKOGAWA,WT332,C2WL21005V,F1.02"]),
        *_setting(":RATE 1S"),
        *_setting(":NUMERIC:NORMAL:NUMBER 8"),
        *[
            step
            for i, item in enumerate(("U,1", "I,1", "P,1", "LAMBDA,1", "U,2", "I,2", "P,2", "LAMBDA,2"), start=1)
            for step in _setting(f":NUMERIC:NORMAL:ITEM{i} {item}")
        ],
        *_setting(":STATUS:FILTER1 FALL"),
        (":STATUS:EESR?", ["0"]),
    ]
    transport = IdleWhenDone(script)
    meter = YokogawaWT330(transport)
    assert meter.read_ranges() == Ranges(300.0, None)
    meter.start("m", 1000)  # nobody asked *IDN? yet: the element count comes from it
    meter.stop()
    assert transport.script == [] and meter.elements == 2


@pytest.mark.parametrize(
    ("driver", "idn"),
    [
        (YokogawaWT330, "YOKOGAWA,WT310E,C2VL22012V,F1.04"),
        (YokogawaWT330, "ACME,WT333,1,1"),
        (YokogawaWT310, "YOKOGAWA,WT333E,C2WL21005V,F1.02"),
    ],
)
def test_a_model_of_another_family_is_refused(driver, idn: str) -> None:
    with pytest.raises(MeterProtocolError, match=f"not a Yokogawa {driver.family}"):
        driver(ScriptedTransport([("*IDN?", [idn])])).identify()


def test_ranges_reply_of_the_wrong_shape_is_refused() -> None:
    meter = YokogawaWT330(ScriptedTransport([("*IDN?", ["YOKOGAWA,WT333E,x,F1"])]))
    meter.identify()
    for reply in ("1;0;1;0;1;0;1;0", "150;0;1", "a;b;c;d"):  # 2 per query on a 3-element analyzer, 3 answers, text
        with pytest.raises(MeterProtocolError, match="cannot read ranges"):
            meter._parse_ranges(reply)


@pytest.fixture
def wt33x(pty_meter):
    def start(model: str = "WT333E", watts: float = 100.0, **kwargs) -> tuple[ScpiWT300, YokogawaWT330]:
        instrument = ScpiWT300(ConstantSignal(watts), Electrical(noise=0), model=model, **kwargs)
        _server, meter = pty_meter(YokogawaWT330, instrument)
        return instrument, meter

    return start


def test_simulated_elements_share_the_signal() -> None:
    assert element_shares(1) == (1.0,)
    assert sum(element_shares(3)) == pytest.approx(1.0) and len(set(element_shares(3))) == 3
    assert ScpiWT310(ConstantSignal(1.0), Electrical()).handle("*IDN?") == ["YOKOGAWA,WT310E,SIMULATED-MLPOWER,F1.00"]
    with pytest.raises(MeterConfigError):
        ScpiWT300(ConstantSignal(1.0), Electrical(), model="WT500")


def test_the_simulator_refuses_an_element_it_does_not_have(wt33x) -> None:
    _instrument, meter = wt33x("WT332E")
    assert meter.identify().channels == 2
    meter._write(":NUMERIC:NORMAL:ITEM8 LAMBDA,2")
    with pytest.raises(MeterErrorReply, match="222"):
        meter._write(":NUMERIC:NORMAL:ITEM5 U,3")
    with pytest.raises(MeterErrorReply, match="224"):
        meter._write(":NUMERIC:NORMAL:ITEM5 WATTS,1")
    wt310 = ScpiWT310(ConstantSignal(1.0), Electrical())
    wt310.handle(":NUMERIC:NORMAL:ITEM1 U,2")
    assert wt310.handle(":STATUS:ERROR?") == ['222,"Data out of range"']
    meter.close()


def test_the_simulator_answers_the_items_as_set(wt33x) -> None:
    instrument, meter = wt33x("WT333E", watts=60.0)
    meter._write(":NUMERIC:NORMAL:NUMBER 3")
    for i, element in enumerate((3, 1, 2), start=1):
        meter._write(f":NUMERIC:NORMAL:ITEM{i} P,{element}")
    powers_w = [float(x) for x in meter._query(":NUMERIC:NORMAL:VALUE?").split(",")]
    assert powers_w == pytest.approx([10.0, 30.0, 20.0])  # shares 3/6, 2/6, 1/6 of 60 W
    assert instrument.items[2] == ("P", 1)
    meter.close()


def test_one_overranged_element_rejects_the_whole_reading(wt33x) -> None:
    _instrument, meter = wt33x("WT333E", watts=300.0)
    meter.identify()
    meter.set_ranges(Ranges(300.0, 0.5))  # element 1 draws 150 W, about 0.9 A: beyond 0.5 A's crest
    meter.start("r_testing", 100)
    time.sleep(1.05)
    meter.stop()
    assert meter.read_new() == [] and meter.uncertainties == []
    assert len(meter.rejected_lines) >= 8
    assert all("I,1 has no valid value" in bad.reason for bad in meter.rejected_lines)
    meter.close()


def test_garbage_from_a_wt333_is_rejected_and_the_measurement_continues(wt33x) -> None:
    _instrument, meter = wt33x("WT333E", garbage_every=4)
    meter.start("g_testing", 100)  # identifies on its own
    time.sleep(2.05)
    meter.stop()
    samples = meter.read_new()
    assert len(meter.rejected_lines) >= 4 and "expected 12 values" in meter.rejected_lines[0].reason
    assert len(samples) >= 12 and all(s.power_w == pytest.approx(100.0, rel=1e-3) for s in samples)
    meter.close()


@pytest.mark.slow
@pytest.mark.realtime
def test_a_simulated_wt333_at_ten_hertz_for_ten_seconds_on_a_pty(wt33x) -> None:
    _instrument, meter = wt33x("WT333E", watts=100.0)
    identity = meter.identify()
    assert identity.simulated and identity.channels == 3
    meter.set_ranges(Ranges(300.0, 1.0))
    meter.start("r_testing", 100)
    samples = read_for(meter, 10.0)
    assert_every_update_once(samples, 100, 100_000_000)
    assert meter.rejected_lines == []
    for s in samples:
        assert len(s.channels) == 3 and (s.volts_v, s.amps_a, s.pf) == (-1.0, -1.0, -1.0)
        assert s.power_w == pytest.approx(sum(ch.power_w for ch in s.channels), rel=1e-12)
        assert s.power_w == pytest.approx(100.0, rel=1e-3)
        assert [ch.power_w for ch in s.channels] == pytest.approx([50.0, 100 / 3, 100 / 6], rel=1e-3)
        assert all(ch.volts_v == pytest.approx(230.0) for ch in s.channels)
    # 0.1 % of 100 W + 3 x 0.1 % of 300 V x 1 A, of 100 W
    assert meter.uncertainties == [pytest.approx(0.01, rel=1e-3)] * len(samples)
    meter.close()


def test_meter_urls_open_the_wt330_driver() -> None:
    for url in (
        "serial:///dev/ttyUSB0?model=wt333&rate=0.1",
        "serial+socket://h:4001?model=WT332E",
        "sim://?model=wt330",
    ):
        assert isinstance(open_meter(url), YokogawaWT330), url  # no I/O before open()
    for url in ("serial:///dev/ttyUSB0?model=wt310e", "sim://", "sim://?model=wt310"):
        assert type(open_meter(url)) is YokogawaWT310, url
    for url in ("serial:///dev/ttyUSB0?model=wt500", "sim://?model=wt334", "serial:///dev/ttyUSB0"):
        with pytest.raises(MeterConfigError, match="model="):
            parse_meter_url(url)


def test_sim_url_gives_a_three_element_simulated_wt333() -> None:
    meter = open_meter("sim://?model=wt333&rate=0.1&signal=constant:90")
    with meter:
        identity = meter.identify()
        assert (identity.model, identity.channels, identity.simulated) == ("YokogawaWT333E", 3, True)
        meter.start("m", 100)
        time.sleep(0.6)
        meter.stop()
        samples = meter.read_new()
    assert len(samples) >= 4
    assert all(len(s.channels) == 3 and s.power_w == pytest.approx(90.0, rel=0.1) for s in samples)


def test_meter_sim_subprocess_serves_a_wt333() -> None:
    sim = subprocess.Popen(
        [str(BIN / "mlpower-director"), "meter-sim", "--serial", "--model", "wt333", "--signal", "constant:150",
         "--noise", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = sim.stdout.readline()
        assert "SIMULATED Yokogawa WT333E on /dev/" in first, first
        device = first.split()[-1]
        probe = subprocess.run(
            [str(BIN / "mlpower-director"), "meter-probe", f"serial://{device}?model=wt333&rate=0.1",
             "--interval-ms", "100"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "YokogawaWT333E   SIMULATED" in probe.stdout and "channels: 3" in probe.stdout
        lines = [line for line in probe.stdout.splitlines() if line.startswith("Time,")]
        assert len(lines) == 5
        for line in lines:
            fields = line.split(",")
            assert [f for f in fields if f.startswith("Ch")] == ["Ch1", "Ch2", "Ch3"]
            channel_w = [float(fields[fields.index(f"Ch{k}") + 2]) for k in (1, 2, 3)]
            total_w = float(fields[fields.index("Watts") + 1])
            assert total_w == pytest.approx(sum(channel_w), rel=1e-6)
            assert total_w == pytest.approx(150.0, rel=1e-3)
    finally:
        sim.terminate()
        sim.wait(timeout=15)


@pytest.mark.slow
def test_session_on_a_serial_wt333_writes_three_channels(tmp_path: Path) -> None:
    folder = serial_session(tmp_path, "wt333", "--signal", "constant:150")
    for sub in ("ranging", "run_1"):
        spl = read_spl(folder / sub / "spl.txt")
        assert len(spl) >= 25 and len(spl.channels) == 3
        summed_w = sum(ch.power_w for ch in spl.channels)
        assert np.allclose(spl.power_w, summed_w, rtol=1e-6) and np.all(spl.volts_v == -1.0)
        assert 120.0 < float(np.mean(spl.power_w)) < 180.0
    record = json.loads((folder / "session.json").read_text())
    assert record["meter"]["identity"]["model"] == "YokogawaWT333E" and record["meter"]["identity"]["channels"] == 3


def test_the_meter_factory_never_imports_a_simulator() -> None:
    """sim:// is the models' declaration (``MeterModel.simulator``): the production factory, the registry and the
    serve path import no simulator; opening a sim:// URL imports that model's simulator, and nothing else does."""
    code = (
        "import sys\n"
        "import director.serve, director.meters.urls as u\n"
        "from director.meters.registry import meter_models\n"
        "meter_models()\n"
        "sims = [m for m in sys.modules if m.startswith(('director.sim', 'director.ptd_front'))]\n"
        "assert not sims, sims\n"
        "meter = u.open_meter('sim://?model=wt332')\n"
        "print(type(meter).__name__, 'director.sim.wt3xx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["YokogawaWT330", "True"], out.stdout + out.stderr
