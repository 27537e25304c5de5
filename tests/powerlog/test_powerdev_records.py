"""power-dev's server.json and client.json as mlpower writes them (powerlog.powerdev_records): power-dev's keys
in its order, and what the session-record reader (powerlog.session_record) reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from powerlog.powerdev_records import (
    ClientJson,
    ClientMlpower,
    PowerDevMessage,
    PtdConfigEntry,
    PtdMessage,
    ServerJson,
    SessionUuids,
    powerdev_json_text,
)
from powerlog.run_record import ClockEntry
from powerlog.session_record import read_session_record
from powerlog.wire import ComponentDescription

NS = 1_000_000_000
COMMON = ["version", "timezone", "modules", "sources", "messages", "uuid", "session_name", "results", "phases"]
UUIDS = SessionUuids(client="c" * 36, server="s" * 36)
MESSAGES = [PowerDevMessage.exchanged("time", 1_700_000_000 * NS, "1700000000.5", 1_700_000_000 * NS + NS // 2)]
PHASES = {"ranging": [(1_700_000_001.25, 12.5), (1_700_000_002.0, 13.25)]}


def _server() -> ServerJson:
    return ServerJson(
        messages=MESSAGES,
        uuid=UUIDS,
        session_name="2026-01-01_00-00-00_x",
        results={"power/spl.txt": "ab" * 20},
        phases=PHASES,
        ptd_messages=[PtdMessage(cmd="Identify", reply="YokogawaWT310,1.0")],
        ptd_config=[
            PtdConfigEntry(
                command=["ptd://h:1"],
                device_type=49,
                interface_flag="",
                dc_flag=None,
                device_port="h:1",
                channel=None,
                simulated=True,
            )
        ],
    )


def test_a_message_is_timed_in_seconds() -> None:
    assert MESSAGES[0].model_dump() == {
        "cmd": "time",
        "cmd_time": 1_700_000_000.0,
        "reply": "1700000000.5",
        "reply_time": 1_700_000_000.5,
    }


def test_server_json_has_power_devs_keys_in_order_and_reads_back(tmp_path: Path) -> None:
    text = powerdev_json_text(_server())
    assert list(json.loads(text)) == [*COMMON, "ptd_messages", "ptd_config"]
    assert text.endswith("}\n") and text.startswith('{\n  "version": "mlpower-1"')
    (tmp_path / "server.json").write_text(text)
    record = read_session_record(tmp_path / "server.json")
    assert (record.uuid_client, record.uuid_server, record.timezone_s) == (UUIDS.client, UUIDS.server, 0)
    assert record.ptd_reply("Identify") == "YokogawaWT310,1.0"
    assert [(c.device_type, c.device_port, c.channels) for c in record.ptd_configs] == [(49, "h:1", ())]
    points = record.phases["ranging"]
    assert [p.monotonic_s for p in points] == [12.5, 13.25]
    assert [p.t_utc_ns for p in points] == [pytest.approx(1_700_000_001_250_000_000, abs=1000),
                                            pytest.approx(1_700_000_002_000_000_000, abs=1000)]  # fmt: skip
    assert [(m.cmd, m.cmd_time_s, m.reply_time_s) for m in record.messages] == [
        ("time", 1_700_000_000.0, 1_700_000_000.5)
    ]
    assert record.results == {"power/spl.txt": "ab" * 20}


def test_client_json_keeps_mlpowers_own_part_last(tmp_path: Path) -> None:
    clock = ClockEntry(phase="session", when="before", offset_ns=5, bound_ns=2, delay_ns=4, rounds=8, kept=8,
                       agent_utc_ns=1)  # fmt: skip
    component = ComponentDescription(name="rapl:package-0", family="rapl", readable=True)
    record = ClientJson(
        messages=MESSAGES,
        uuid=UUIDS,
        session_name="s",
        phases=PHASES,
        mlpower=ClientMlpower(clock=[clock], workload="sleep 1", components=[component]),
    )
    obj = json.loads(powerdev_json_text(record))
    assert list(obj) == [*COMMON, "mlpower"]
    assert list(obj["mlpower"]) == ["clock", "workload", "gpu_sampler", "components"]
    assert obj["mlpower"]["clock"] == [clock.model_dump()]
    assert obj["phases"] == {"ranging": [[1_700_000_001.25, 12.5], [1_700_000_002.0, 13.25]]}
    assert ClientJson.model_validate(obj) == record
