"""The PTDaemon driver: scripted request/reply pairs from real sessions, and reply parsers under fuzzing."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from director.errors import MeterErrorReply, MeterProtocolError, NotPtdaemonError
from director.meters.ptd import (
    PtdMeter,
    parse_identify,
    parse_ranges,
    parse_rl_header,
    parse_uncertainty,
    parse_watts,
)
from director.meters.ranges import Ranges, derive_testing_ranges, range_table_for, round_up_to_range
from director.meters.scripted import ScriptedTransport
from powerlog.spl import read_spl
from tests.support.paths import FIXTURES


def _fixture_messages(name: str) -> list[dict[str, str]]:
    return json.loads((FIXTURES[name] / "power" / "server.json").read_text())["ptd_messages"]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_driver_replays_a_real_session(name: str) -> None:
    """Every PTDaemon command of a real v2.1 session, in order, through the driver's methods."""
    msgs = _fixture_messages(name)
    for m in msgs:  # the reference workflow passes configured ranges verbatim ("SR,A,20"); we send 6 decimals
        head, _, value = m["cmd"].rpartition(",")
        if head in ("SR,V", "SR,A") and value != "Auto":
            m["cmd"] = f"{head},{float(value):.6f}"
    # mlpower repeats the restoring SR,A so that it is both the 3rd and the 4th (every round's checker)
    msgs.append(dict(msgs[-1]))
    script = [(m["cmd"], [m["reply"]]) for m in msgs]
    transport = ScriptedTransport(script)
    meter = PtdMeter(transport)
    meter.open()
    identity = meter.identify()
    assert identity.model.startswith("Yokogawa") and identity.version == "1.9.2" and not identity.simulated
    initial = meter.read_ranges()
    ranging = [m["cmd"] for m in msgs if m["cmd"].startswith("SR,")]

    def to_range(cmd: str) -> float | None:
        value = cmd.split(",")[2]
        return None if value == "Auto" else float(value)

    meter.set_ranges(Ranges(to_range(ranging[0]), to_range(ranging[1])))
    go = [m["cmd"] for m in msgs if m["cmd"].startswith("Go,")]
    meter.start(go[0].split(",", 3)[3])
    assert meter.stop() is True
    meter.set_ranges(Ranges(to_range(ranging[2]), to_range(ranging[3])))
    meter.start(go[1].split(",", 3)[3])
    assert meter.stop() is True
    assert meter.stop() is False  # "Error: no measurement to stop"
    if name == "orin_offline":
        assert initial == Ranges(150.0, 1.0)
    meter.restore_ranges()
    assert transport.script == []
    assert [e.cmd for e in meter.exchanges] == [m["cmd"] for m in msgs]
    assert [e.reply for e in meter.exchanges] == [m["reply"] for m in msgs]


def test_hello_from_something_else_is_not_ptdaemon() -> None:
    meter = PtdMeter(ScriptedTransport([("Hello", ["HTTP/1.1 400 Bad Request"])]))
    with pytest.raises(NotPtdaemonError, match="is this a PTDaemon port"):
        meter.open()


def test_error_replies_are_typed_and_keep_the_reply() -> None:
    meter = PtdMeter(ScriptedTransport([("SR,V,Auto", ["Error: something"]), ("Go,1000,0,m", ["Unknown command"])]))
    with pytest.raises(MeterErrorReply) as info:
        meter.set_ranges(Ranges.automatic())
    assert info.value.reply == "Error: something" and info.value.command == "SR,V,Auto"
    with pytest.raises(MeterErrorReply, match="did not start"):
        meter.start("m")


SAMPLE = "Time,07-30-2022 04:40:04.430,Watts,11.470000,Volts,206.700000,Amps,0.173670,PF,0.319500,Mark,m"


def test_read_new_falls_back_between_rl_variants_and_remembers() -> None:
    script = [
        ("RL", ["Invalid number of parameters"]),
        ("RL,*,*", ["Unknown command"]),
        ("DC-RL", ["Last 2 samples", SAMPLE, "garbage"]),
        ("DC-RL", ["Last 0 samples"]),
    ]
    meter = PtdMeter(ScriptedTransport(script))
    samples = meter.read_new()
    assert len(samples) == 1 and samples[0].power_w == 11.47
    assert [b.text for b in meter.rejected_lines] == ["garbage"]
    assert meter.read_new() == []


def test_read_new_gives_up_with_a_typed_error() -> None:
    script = [(v, ["Unknown command"]) for v in ("RL", "RL,*,*", "DC-RL")]
    with pytest.raises(MeterErrorReply, match="accepts none of"):
        PtdMeter(ScriptedTransport(script)).read_new()


def test_watts_and_uncertainty_summaries() -> None:
    assert parse_watts("Watts,23.492803,8.410000,24.560000,692,0,692").samples == 692
    u = parse_uncertainty("Uncertainty,0.006264,0.006105,0.009201,692,0,692,0")
    assert (u.avg, u.max, u.unknown) == (0.006264, 0.009201, 0)
    assert parse_rl_header("Last 12 samples") == 12


def test_identify_channels_and_dc() -> None:
    multi = parse_identify(_fixture_messages("xr12_multistream")[1]["reply"])
    assert multi.channels == 2 and multi.model == "YokogawaWT330_multichannel"
    single = parse_identify(_fixture_messages("orin_offline")[1]["reply"])
    assert single.channels == 1 and not single.dc
    dc = parse_identify("YokogawaWT310_DC,1000,1,1,1,1,0,0,1,version=1.11.1-x,OS=Linux,mode=dc,1,1,1,0,0")
    assert dc.dc and dc.version == "1.11.1"


replies = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "Ranges,0,1.000000,0,150.000000",
            "Watts,23.492803,8.410000,24.560000,692,0,692",
            "Uncertainty,0.006264,0.006105,0.009201,692,0,692,0",
            "Last 5 samples",
            _fixture_messages("orin_offline")[1]["reply"],
        ]
    ).flatmap(lambda r: st.integers(0, len(r)).map(lambda n: r[:n])),
)


@settings(max_examples=500)
@given(replies)
def test_reply_parsers_raise_only_typed_errors(reply: str) -> None:
    for parse in (parse_ranges, parse_watts, parse_uncertainty, parse_rl_header, parse_identify):
        with contextlib.suppress(MeterProtocolError):
            parse(reply)


def test_testing_ranges_from_real_ranging_runs() -> None:
    orin = read_spl(FIXTURES["orin_offline"] / "ranging" / "spl.txt")
    assert derive_testing_ranges(orin, current_factor=1.0) == Ranges(206.89, 0.3576)  # what the v2.1 workflow set
    assert derive_testing_ranges(orin) == Ranges(206.89, pytest.approx(0.3576 * 1.1))
    # the analyzer rounds up to its ranges: SR,V,206.89 -> 300 V, SR,A,0.39 -> 0.5 A on a WT330
    assert derive_testing_ranges(orin, table=range_table_for("YokogawaWT330E")) == Ranges(300.0, 0.5)
    multi = read_spl(FIXTURES["xe8545_resnet_offline"] / "ranging" / "spl.txt")
    assert derive_testing_ranges(multi, current_factor=1.0) == Ranges(128.51, 6.891)


def test_range_rounding_matches_the_reference_examples() -> None:
    wt330 = range_table_for("WT330")
    assert wt330 is not None
    assert round_up_to_range(120.19, wt330.volts_v) == 150
    assert round_up_to_range(6.0653, wt330.amps_a) == 10
    assert round_up_to_range(1000, wt330.volts_v) == 600
    assert range_table_for("SomethingElse") is None


def test_watts_and_uncertainty_commands_through_the_driver() -> None:
    script = [
        ("Watts", ["Watts,23.492803,8.410000,24.560000,692,0,692"]),
        ("Uncertainty", ["Uncertainty,0.006264,0.006105,0.009201,692,0,692,0"]),
        ("Watts", ["Error: no measurement"]),
    ]
    meter = PtdMeter(ScriptedTransport(script))
    assert meter.watts().avg_w == 23.492803
    assert meter.uncertainty().valid == 692
    with pytest.raises(MeterProtocolError) as info:
        meter.watts()
    assert info.value.command == "Watts" and info.value.reply == "Error: no measurement"


def test_ptd_meter_implements_the_meter_protocol() -> None:
    from director.meters.base import Meter

    assert isinstance(PtdMeter(ScriptedTransport([])), Meter)


def test_restore_before_reading_ranges_is_refused() -> None:
    with pytest.raises(MeterErrorReply, match="never read"):
        PtdMeter(ScriptedTransport([])).restore_ranges()
