"""server.json ptd_config written by the director, in the shape the official power checker reads."""

from __future__ import annotations

import pytest

from director.ptd_config import ptd_config_entries
from powerlog.ptd_identity import MeterIdentity, device_type_of


@pytest.mark.parametrize(
    ("model", "channels", "dc", "expected"),
    [
        ("YokogawaWT310E", 1, False, 49),
        ("SimulatedWT310", 1, False, 49),
        ("YokogawaWT210", 1, False, 8),
        ("YokogawaWT333", 3, False, 77),  # a WT333 read over serial: three elements
        ("SimulatedWT330_multichannel", 2, False, 77),
        ("YokogawaWT330E", 1, False, 52),
        ("YokogawaWT500_multichannel", 3, False, 48),
        ("YokogawaWT500", 1, False, 35),
        ("SimulatedWT310_DC", 1, True, 549),
        ("SomethingElse", 1, False, None),
    ],
)
def test_device_type_of(model: str, channels: int, dc: bool, expected: int | None) -> None:
    assert device_type_of(model, channels, dc) == expected


def _identity(model: str, channels: int = 1) -> MeterIdentity:
    return MeterIdentity(model, "1.11.1", channels, False, False, f"{model},...")


def test_one_entry_per_meter_with_the_channels_summed() -> None:
    entries = ptd_config_entries(
        "ptd://127.0.0.1:8888 + serial:///dev/ttyUSB0?model=wt333&rate=0.1",
        [_identity("YokogawaWT310E"), _identity("YokogawaWT333", 3)],
    )
    assert entries[0] == {
        "command": ["ptd://127.0.0.1:8888"],
        "device_type": 49,
        "interface_flag": "",
        "dc_flag": None,
        "device_port": "127.0.0.1:8888",
        "channel": None,
        "simulated": False,
    }
    # the official checker wants type 77 with two channel numbers, in "channel" and as -c in "command"
    assert entries[1]["device_type"] == 77 and entries[1]["channel"] == [1, 3]
    assert entries[1]["command"][-2:] == ["-c", "1,3"]
    assert entries[1]["device_port"] == "/dev/ttyUSB0"


def test_wt500_counts_its_channels() -> None:
    (entry,) = ptd_config_entries("ptd://h:1", [_identity("YokogawaWT500_multichannel", 3)])
    assert entry["device_type"] == 48 and entry["channel"] == [3]
