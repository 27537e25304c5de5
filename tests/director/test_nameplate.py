"""``mlpower-director nameplate``: MLPerf v6.1's ``systems/<id>_power.yaml`` written from SIMULATED BMCs served on
real loopback sockets (HTTP and HTTPS, with credentials), read back and summed by the checker's rules, and broken
files refused with what is wrong and where."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from director.cli import main
from director.sim.redfish import RedfishSimServer, SimAuth, SimulatedBmc
from director.sim.signal import Electrical, parse_signal
from powerlog.cli_support import EXIT_ERRORS, EXIT_OK, EXIT_UNREADABLE


def _bmc(**settings: Any) -> SimulatedBmc:
    return SimulatedBmc(parse_signal("constant:1500"), Electrical(noise=0.0), **settings)


@pytest.fixture
def servers() -> Iterator[list[RedfishSimServer]]:
    started: list[RedfishSimServer] = []
    yield started
    for server in started:
        server.stop()


def _serve(servers: list[RedfishSimServer], bmc: SimulatedBmc, **options: Any) -> RedfishSimServer:
    server = RedfishSimServer(bmc, **options).start()
    servers.append(server)
    return server


def test_two_nodes_write_a_file_the_checker_sums_to_their_needed_supplies(
    servers: list[RedfishSimServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = _serve(servers, _bmc(supplies=4, psu_capacity_w=3300.0, psu_min_needed=2))  # 2+2 redundant
    small = _serve(servers, _bmc(supplies=2, psu_capacity_w=800.0, psu_min_needed=1, legacy_only=True))
    out = tmp_path / "systems" / "rack_power.yaml"
    out.parent.mkdir()
    assert main(["nameplate", big.meter_url(), small.meter_url(), "--out", str(out)]) == EXIT_OK
    said = capsys.readouterr()
    assert f"{out}: design power 7,400 W (2 PSU group(s) counted)" in said.out  # 2 x 3300 + 1 x 800
    assert "4 PSUs (3300, 3300, 3300, 3300 W), 2 needed: 6,600 W   SIMULATED" in said.err

    tree = yaml.safe_load(out.read_text())
    (system_id, nodes), = tree.items()  # fmt: skip
    assert system_id == "rack" and len(nodes) == 2
    (label, (first,)), = nodes[0].items()  # fmt: skip
    assert label == f"127.0.0.1:{big.port} chassis 1U"
    assert first["Min PSUs Needed"] == 2 and "PowerSubsystem" in first["Description"]
    assert "SIMULATED" in first["Description"] and "from the BMC" in first["Description"]
    assert [p["PowerCapacityWatts"] for p in first["PSUs"]] == [3300] * 4
    assert first["PSUs"][2]["SerialNumber"] == "SIM-PSU-0003" and first["PSUs"][2]["PowerSupplyType"] == "AC"
    (_, (second,)), = nodes[1].items()  # fmt: skip
    assert "Redfish Power at" in second["Description"] and second["Min PSUs Needed"] == 1

    assert main(["nameplate", "--check", str(out)]) == EXIT_OK
    assert "design power 7,400 W" in capsys.readouterr().out


def test_without_a_redundancy_group_min_psus_must_be_given(
    servers: list[RedfishSimServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _serve(servers, _bmc(supplies=3, psu_capacity_w=2000.0)).meter_url()
    assert main(["nameplate", url]) == EXIT_UNREADABLE
    assert "publishes no power supply redundancy" in capsys.readouterr().err
    assert main(["nameplate", url, "--min-psus", "4"]) == EXIT_UNREADABLE
    assert "Min PSUs Needed 4 (from --min-psus) must be 1 to 3" in capsys.readouterr().err
    assert main(["nameplate", url, "--min-psus", "2", "--system-id", "box"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert printed.startswith("# MLPerf nameplate power of box") and "Min PSUs Needed: 2" in printed


def test_https_with_credentials_goes_through_the_meters_transport(
    servers: list[RedfishSimServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _serve(servers, _bmc(supplies=2, psu_min_needed=1), https=True, auth=SimAuth("admin", "s3cret-pw"))
    secrets = tmp_path / "bmc.credentials"
    secrets.write_text("admin\ns3cret-pw\n")
    secrets.chmod(0o600)
    out = tmp_path / "node_power.yaml"
    assert main(["nameplate", server.meter_url(credentials=str(secrets)), "--out", str(out)]) == EXIT_OK
    assert "s3cret-pw" not in out.read_text() + str(capsys.readouterr())
    assert main(["nameplate", server.meter_url(), "--out", str(out)]) == EXIT_UNREADABLE  # no credentials: refused
    assert "401" in capsys.readouterr().err


class _NoCapacity(SimulatedBmc):
    """A SIMULATED BMC that leaves PowerCapacityWatts out of its supplies, as some do."""

    def resource(self, path: str) -> tuple[dict[str, Any], str | None] | None:
        found = super().resource(path)
        if found is not None:
            found[0].pop("PowerCapacityWatts", None)
        return found


def test_a_supply_without_its_capacity_is_an_error_naming_it(
    servers: list[RedfishSimServer], capsys: pytest.CaptureFixture[str]
) -> None:
    bmc = _NoCapacity(parse_signal("constant:900"), Electrical(noise=0.0), supplies=2, psu_min_needed=1)
    assert main(["nameplate", _serve(servers, bmc).meter_url()]) == EXIT_UNREADABLE
    assert "power supply 'Power Supply Bay 1 (SIMULATED)' gives no PowerCapacityWatts" in capsys.readouterr().err


TEMPLATE = """\
My System:
- My Rack 1:
  - My Server 1:
    - Description: 'Optional Description'
      Min PSUs Needed: 1
      PSUs:
      - Name: PSU 1
        PowerCapacityWatts: 1200
      - Name: PSU 2
        PowerCapacityWatts: 1200
  - My Switch 1:
    - Description: 'Optional Description'
      Min PSUs needed: 1
      PSUs:
      - Name: PSU 1
        PowerCapacityWatts: 1200
"""


def test_the_rules_template_sums_to_one_supply_per_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "systems" / "My_System_power.yaml"
    path.parent.mkdir()
    path.write_text(TEMPLATE)  # 'Min PSUs needed': the checker matches the two keys without regard to case
    assert main(["nameplate", "--check", str(path)]) == EXIT_OK
    assert "design power 2,400 W (2 PSU group(s) counted)" in capsys.readouterr().out


BROKEN = {
    "empty": ("", "the file is empty: the checker refuses it"),
    "not_yaml": ("S:\n  - n: [1, 2\n", "not valid YAML at line 3"),
    "no_min_psus": ("S:\n- N:\n    PSUs:\n    - PowerCapacityWatts: 1200\n", "S[0].N: PSUs without 'Min PSUs Needed'"),
    "misspelt_capacity": (
        "S:\n- N:\n    Min PSUs Needed: 1\n    PSUs:\n    - powercapacitywatts: 1200\n",
        "S[0].N.PSUs[0]: no PowerCapacityWatts ('powercapacitywatts' is spelt differently",
    ),
    "min_psus_text": (
        "S:\n- N:\n    Min PSUs Needed: two\n    PSUs:\n    - PowerCapacityWatts: 1200\n",
        "S[0].N.Min PSUs Needed: a whole number of at least 1 is needed, not 'two'",
    ),
    "more_needed_than_listed": (
        "S:\n- N:\n    Min PSUs Needed: 3\n    PSUs:\n    - PowerCapacityWatts: 1200\n",
        "S[0].N.Min PSUs Needed is 3 but only 1 PSU(s) are listed",
    ),
    "capacity_text": (
        "S:\n- N:\n    Min PSUs Needed: 1\n    PSUs:\n    - PowerCapacityWatts: 1.2 kW\n",
        "S[0].N.PSUs[0].PowerCapacityWatts: a positive number of watts is needed, not '1.2 kW'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_refused_with_what_and_where(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, reason = BROKEN[case]
    path = tmp_path / "systems" / "S_power.yaml"
    path.parent.mkdir()
    path.write_text(text)
    assert main(["nameplate", "--check", str(path)]) == EXIT_ERRORS
    assert f"{path}: problem: {reason}" in capsys.readouterr().err


def test_where_the_file_sits_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "systems").mkdir()
    wrong_name = tmp_path / "systems" / "S.yaml"
    wrong_name.write_text(TEMPLATE)
    assert main(["nameplate", "--check", str(wrong_name)]) == EXIT_OK  # it sums; the note says why it is not read
    assert "the checker reads systems/<system_id>_power.yaml" in capsys.readouterr().err
    shadowed = tmp_path / "systems" / "S_power.yaml"
    shadowed.write_text(TEMPLATE)
    (tmp_path / "systems" / "S.json").write_text('{"system_power_capacity": 5000}')
    assert main(["nameplate", "--check", str(shadowed)]) == EXIT_OK
    assert "S.json gives system_power_capacity: the checker takes that, not this file" in capsys.readouterr().err
