"""The system description (``SYSTEM.toml``): the example in docs/hardware-setup.md loads as the four-node system
it shows, every bad file is refused naming the file, the table and the key, ``--meter`` alone is a one-node
system, the record goes through ``system.json`` and back, and ``mlpower-director system-check`` runs as a real
process."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from director.errors import ConfigError, MeterConfigError, SystemConfigError
from director.system import EstimatedInterconnect, MeasuredInterconnect, SystemDescription, load_system
from director.system.plan import plan_system
from powerlog.errors import FormatError
from powerlog.system_record import SYSTEM_FORMAT, SystemRecord, parse_system_json, read_system_json, write_system_json
from powerlog.tiers import MeasurementTier
from tests.support.paths import DOCS_DIR
from tests.support.processes import BIN

CHAPTER = "## Multi-node systems"


def _docs_example() -> str:
    """The ```toml block of the multi-node chapter of docs/hardware-setup.md."""
    text = (DOCS_DIR / "hardware-setup.md").read_text(encoding="utf-8")
    chapter = text[text.index(CHAPTER) :]
    return chapter[chapter.index("```toml\n") + 8 : chapter.index("\n```", chapter.index("```toml"))]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the files the example's redfish:// URLs name (relative paths: the director's folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bmc.pem").write_text("not read before connecting\n")
    (tmp_path / "bmc.cred").write_text("reader\nsecret\n")
    (tmp_path / "bmc.cred").chmod(0o600)
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / "system.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_docs_example_is_four_nodes_with_an_analyzer_bmcs_and_an_estimated_interconnect(lab: Path) -> None:
    system = load_system(_write(lab, _docs_example()))
    assert system.name == "rack-a" and system.loadgen_node == "node0" and system.loadgen.name == "node0"
    assert [n.name for n in system.nodes] == ["node0", "node1", "node2", "node3"]
    node0, node1, node2, node3 = system.nodes
    assert [(s.url.text, s.tier) for s in node0.wall] == [("ptd://10.0.0.5:8888", MeasurementTier.PTDAEMON)]
    assert node1.wall[0].tier is MeasurementTier.BMC and node1.wall[0].url.path == "/1"
    assert node2.wall[0].channels == (1, 2) and node3.wall[0].channels == (3,)  # one analyzer, two nodes
    assert [s.tier for s in node3.wall] == [MeasurementTier.PTDAEMON, MeasurementTier.BMC]
    assert isinstance(system.interconnect, EstimatedInterconnect)
    assert system.interconnect.power_w == pytest.approx(325.0) and "datasheet" in system.interconnect.note
    assert system.tier is MeasurementTier.BMC  # the weakest part: two nodes by their BMCs
    assert system.described_by == str(lab / "system.toml")


def test_a_system_measured_through_ptdaemon_alone_is_ptdaemon_tier_and_a_measured_interconnect_counts(
    lab: Path,
) -> None:
    text = (
        'name = "pair"\nloadgen_node = "a"\n[[node]]\nname = "a"\nwall = "ptd://10.0.0.5"\n'
        '[[node]]\nname = "b"\nwall = ["ptd://10.0.0.6:8888", "ptd://10.0.0.7:8888"]\n'
    )
    system = load_system(_write(lab, text))
    assert system.tier is MeasurementTier.PTDAEMON and system.interconnect is None
    assert system.nodes[0].wall[0].url.port == 8888 and len(system.nodes[1].wall) == 2  # summed
    measured = text + '[interconnect]\nwall = ["redfish://10.0.2.1/1?credentials=bmc.cred"]\nnote = "leaf"\n'
    system = load_system(_write(lab, measured))
    assert isinstance(system.interconnect, MeasuredInterconnect) and system.interconnect.note == "leaf"
    assert system.tier is MeasurementTier.BMC and len(system.sources) == 4


def test_one_node_needs_no_loadgen_node_and_share_1_is_allowed(lab: Path) -> None:
    text = 'name = "one"\n[[node]]\nname = "n"\nwall = ["sim://?rate=0.1"]\n'
    text += '[interconnect]\nmax_power_w = 100\nshare = 1\nnote = "all of it"\n'
    system = load_system(_write(lab, text))
    assert system.loadgen_node == "n" and system.tier is MeasurementTier.DIRECT
    assert isinstance(system.interconnect, EstimatedInterconnect) and system.interconnect.power_w == 100.0


GOOD_NODE = '[[node]]\nname = "n0"\nwall = ["ptd://10.0.0.5:8888"]\n'
TWO_NODES = 'name = "s"\nloadgen_node = "n0"\n' + GOOD_NODE + '[[node]]\nname = "n1"\nwall = ["ptd://10.0.0.6"]\n'
ESTIMATE = "[interconnect]\nmax_power_w = 650.0\nshare = 0.5\nnote = 'datasheet'\n"

BAD_FILES = {
    "syntax": ('name = "s"\n[[node]\n', ["not valid TOML", "line 2, column"]),
    "unknown top key": ('name = "s"\nnodes = 1\n' + GOOD_NODE, ["nodes: unknown key", "did you mean 'node'"]),
    "unknown node key": ('name = "s"\n[[node]]\nname = "n0"\nwalls = ["ptd://h"]\n', ['[[node]] #1 "n0", walls:']),
    "unknown source key": (
        'name = "s"\n[[node]]\nname = "n0"\nwall = [{ url = "ptd://h", channel = [1] }]\n',
        ['[[node]] #1 "n0", wall #1, channel: unknown key', "did you mean 'channels'"],
    ),
    "no name": (GOOD_NODE, ["system.toml: name: missing: write name ="]),
    "bad name": ('name = "rack a/b"\n' + GOOD_NODE, ["name: 'rack a/b' is not a name"]),
    "no node": ('name = "s"\n', ["node: no [[node]] table"]),
    "single [node]": ('name = "s"\n[node]\nname = "n0"\nwall = ["ptd://h"]\n', ["write [[node]] (two brackets)"]),
    "node without name": ('name = "s"\n[[node]]\nwall = ["ptd://h"]\n', ["[[node]] #1, name: missing"]),
    "duplicate node": (
        'name = "s"\n' + GOOD_NODE + GOOD_NODE,
        ["[[node]] #2 \"n0\", name: 'n0' is also [[node]] #1's name"],
    ),
    "loadgen_node not a node": (
        TWO_NODES.replace('loadgen_node = "n0"', 'loadgen_node = "n9"'),
        ["loadgen_node: 'n9' is no [[node]]'s name: write one of 'n0', 'n1'"],
    ),
    "loadgen_node missing": (TWO_NODES.replace('loadgen_node = "n0"\n', ""), ["loadgen_node: missing: write"]),
    "no wall": ('name = "s"\n[[node]]\nname = "n0"\n', ['[[node]] #1 "n0", wall: no wall source']),
    "empty wall": ('name = "s"\n[[node]]\nname = "n0"\nwall = []\n', ['"n0", wall: no wall source']),
    "none://": ('name = "s"\n[[node]]\nname = "n0"\nwall = ["none://"]\n', ["wall #1: none:// is no wall meter"]),
    "not a URL": ('name = "s"\n[[node]]\nname = "n0"\nwall = [42]\n', ["wall #1: 42 is not a meter URL"]),
    "bad URL": (
        'name = "s"\n[[node]]\nname = "n0"\nwall = ["ptd://h", "http://10.0.0.9"]\n',
        ['[[node]] #1 "n0", wall #2: unsupported meter URL', "any URL serve --meter takes"],
    ),
    "both measured and estimated": (
        TWO_NODES + ESTIMATE + 'wall = ["ptd://10.0.0.9"]\n',
        ["[interconnect], wall, max_power_w, share: both measured and estimated"],
    ),
    "neither": (TWO_NODES + '[interconnect]\nnote = "x"\n', ["[interconnect]: neither measured nor estimated"]),
    "[[interconnect]]": (TWO_NODES + "[[interconnect]]\nshare = 1\n", ["write one [interconnect] table"]),
    "zero power": (TWO_NODES + ESTIMATE.replace("650.0", "0"), ["[interconnect], max_power_w: 0.0: write a positive"]),
    "negative power": (TWO_NODES + ESTIMATE.replace("650.0", "-5.0"), ["max_power_w: -5.0: write a positive"]),
    "nan power": (TWO_NODES + ESTIMATE.replace("650.0", "nan"), ["max_power_w: nan is not a number"]),
    "power as text": (TWO_NODES + ESTIMATE.replace("650.0", '"650 W"'), ["max_power_w: '650 W' is not a number"]),
    "no share": (TWO_NODES + ESTIMATE.replace("share = 0.5\n", ""), ["[interconnect], share: missing"]),
    "share 0": (TWO_NODES + ESTIMATE.replace("0.5", "0"), ["share: 0.0 is outside (0, 1]"]),
    "share above 1": (TWO_NODES + ESTIMATE.replace("0.5", "1.5"), ["share: 1.5 is outside (0, 1]"]),
    "share as bool": (TWO_NODES + ESTIMATE.replace("0.5", "true"), ["share: True is not a number"]),
    "estimate without note": (TWO_NODES + ESTIMATE.replace("note = 'datasheet'\n", ""), ["note: missing"]),
    "unknown interconnect key": (TWO_NODES + ESTIMATE + "watts = 3\n", ["[interconnect], watts: unknown key"]),
    "one meter in two nodes": (
        TWO_NODES.replace('"ptd://10.0.0.6"', '"ptd://10.0.0.5"'),
        ['[[node]] #2 "n1", wall #1: \'ptd://10.0.0.5\' is also counted in [[node]] #1 "n0"'],
    ),
    "shared channel": (
        'name = "s"\nloadgen_node = "a"\n[[node]]\nname = "a"\nwall = [{ url = "ptd://h", channels = [1, 2] }]\n'
        '[[node]]\nname = "b"\nwall = [{ url = "ptd://h:8888", channels = [2, 3] }]\n',
        ['[[node]] #2 "b", wall #1: channel(s) [2] of', 'also counted in [[node]] #1 "a"'],
    ),
    "top-level key after a table": (
        TWO_NODES.replace('loadgen_node = "n0"\n', "") + 'loadgen_node = "n0"\n',
        ['[[node]] #2 "n1", loadgen_node: unknown key: a top-level key goes at the top of the file'],
    ),
    "bad channels": (
        'name = "s"\n[[node]]\nname = "a"\nwall = [{ url = "ptd://h", channels = [0] }]\n',
        ["wall #1 channels: [0]: write the analyzer's channel numbers"],
    ),
    "repeated channel": (
        'name = "s"\n[[node]]\nname = "a"\nwall = [{ url = "ptd://h", channels = [1, 1] }]\n',
        ["[1, 1]"],
    ),
    "source without url": ('name = "s"\n[[node]]\nname = "a"\nwall = [{ channels = [1] }]\n', ["needs url ="]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_refused_naming_the_file_the_table_and_the_key(lab: Path, case: str) -> None:
    text, expected = BAD_FILES[case]
    path = _write(lab, text)
    with pytest.raises(SystemConfigError) as raised:
        load_system(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    for part in expected:
        assert part in message, message
    assert isinstance(raised.value, ConfigError)


def test_a_password_in_a_url_is_refused_and_never_shown(lab: Path) -> None:
    path = _write(lab, 'name = "s"\n[[node]]\nname = "a"\nwall = ["redfish://admin:hunter2@10.0.1.11/1"]\n')
    with pytest.raises(SystemConfigError, match=r'\[\[node\]\] #1 "a", wall #1: .*no user or password') as raised:
        load_system(path)
    assert "hunter2" not in str(raised.value) and raised.value.key == "wall #1" and raised.value.table


def test_a_missing_or_non_utf8_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemConfigError, match="no such file"):
        load_system(tmp_path / "absent.toml")
    (tmp_path / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SystemConfigError, match="not UTF-8 text"):
        load_system(tmp_path / "latin1.toml")


def test_meter_alone_is_a_one_node_system_that_runs_loadgen() -> None:
    system = SystemDescription.single_node(["ptd://10.0.0.5", "sim://?rate=1"])
    assert [n.name for n in system.nodes] == ["sut"] and system.loadgen_node == "sut"
    assert [s.url.text for s in system.nodes[0].wall] == ["ptd://10.0.0.5", "sim://?rate=1"]
    assert system.tier is MeasurementTier.DIRECT and system.interconnect is None and system.described_by == "--meter"
    assert SystemDescription.single_node(["none://"]).tier is MeasurementTier.COMPONENTS  # as --meter none:// today
    with pytest.raises(MeterConfigError, match="unsupported meter URL"):  # as --meter refuses it
        SystemDescription.single_node(["http://10.0.0.5"])


def test_the_record_goes_through_system_json_and_back(lab: Path) -> None:
    record = load_system(_write(lab, _docs_example())).to_record()
    written = write_system_json(lab, record)
    assert written == lab / "system.json" and not list(lab.glob("*.tmp*"))
    obj = json.loads(written.read_text())
    assert obj["format"] == SYSTEM_FORMAT and obj["loadgen_node"] == "node0" and obj["tier"] == "bmc"
    assert obj["interconnect"] == {
        "estimated": True, "wall": [], "max_power_w": 650.0, "share": 0.5,
        "note": "leaf switch: half of its ports; datasheet maximum 650 W", "estimated_power_w": 325.0,
    }  # fmt: skip
    assert obj["nodes"][2]["wall"] == [{"url": "ptd://10.0.0.6:8888", "tier": "ptdaemon", "channels": [1, 2],
                                        "samples_dir": None, "interval_ms": None}]  # fmt: skip
    assert "secret" not in written.read_text()  # the credentials file is named, never read into the record
    back = read_system_json(lab)
    assert back == record and back.node("node1") is not None and back.interconnect is not None
    one = SystemDescription.single_node(["ptd://10.0.0.5"]).to_record()
    write_system_json(lab, one)
    assert read_system_json(lab) == one and one.interconnect is None and one.described_by == "--meter"


@pytest.mark.parametrize(
    ("change", "where"),
    [({"loadgen_node": "n9"}, "loadgen_node: 'n9' is none of the nodes"),
     ({"nodes": [{"name": "a", "wall": [{"url": "ptd://h", "tier": "best"}]}]}, "nodes.0.wall.0.tier"),
     ({"nodes": [{"name": "a", "wall": [{"url": "redfish://u:p@h/1"}]}], "loadgen_node": "a"}, "nodes.0.wall.0.url"),
     ({"interconnect": {"estimated": True, "max_power_w": 10, "share": 2}}, "interconnect.share"),
     ({"interconnect": {"estimated": False}}, "a measured interconnect has wall sources"),
     ({"name": 5}, "name")],
)  # fmt: skip
def test_a_bad_system_json_is_a_format_error_naming_the_field(change: dict[str, object], where: str) -> None:
    good = SystemDescription.single_node(["ptd://10.0.0.5"]).to_record().model_dump(mode="json")
    with pytest.raises(FormatError, match=re.escape(where)):
        parse_system_json({**good, **change})
    with pytest.raises(FormatError, match="no such file"):
        read_system_json(Path("/nonexistent-folder"))


def test_the_docs_list_every_system_json_field_and_no_other() -> None:
    row = next(
        line for line in (DOCS_DIR / "file-formats.md").read_text().splitlines() if line.startswith("| `system.json` |")
    )
    description = row.split(" | ")[2]
    top_level = re.sub(r"\([^()]*\)", "", re.sub(r"\([^()]*\)", "", description))  # drop (nested) asides
    named = set(re.findall(r"`([a-z_]+)`", top_level))
    assert named == set(SystemRecord.model_fields), named ^ set(SystemRecord.model_fields)


def test_system_check_prints_the_system_or_the_error_as_a_real_process(lab: Path) -> None:
    good = _write(lab, _docs_example())
    run = subprocess.run(
        [str(BIN / "mlpower-director"), "system-check", str(good)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "system 'rack-a'" in out and "4 node(s)" in out and "node node0   (runs LoadGen)" in out
    assert re.search(r"ptdaemon\s+ptd://10\.0\.0\.6:8888  channels 1, 2", out)
    assert re.search(r"bmc\s+redfish://10\.0\.1\.11/1\?ca=bmc\.pem&credentials=bmc\.cred", out)
    assert "interconnect: ESTIMATED, not measured: 325 W = max_power_w 650 W x share 0.5" in out
    assert out.strip().splitlines()[-1].startswith("tier: bmc, the weakest of its wall sources")
    bad = _write(lab, _docs_example().replace('loadgen_node = "node0"', 'loadgen_node = "node7"'))
    run = subprocess.run(
        [str(BIN / "mlpower-director"), "system-check", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and run.stdout == ""
    assert f"mlpower-director system-check: {bad}: loadgen_node: 'node7' is no [[node]]'s name" in run.stderr


def test_the_plan_opens_each_meter_once_and_says_where_each_source_is_stored(lab: Path) -> None:
    """serve --system: the LoadGen node's meter is the session's own (the run folder's spl.txt); every other
    meter gets a folder of its own, and a meter two nodes share is opened once, each node reading its channels."""
    plan = plan_system(load_system(_write(lab, _docs_example())))
    assert [u.text for u in plan.session_meter_urls] == ["ptd://10.0.0.5:8888"]
    assert [(m.key, m.nodes) for m in plan.wall_meters] == [
        ("node1.0", ("node1",)), ("node2.0", ("node2", "node3")), ("node3.1", ("node3",))
    ]  # fmt: skip
    stored = {n.name: [(w.samples_dir, w.channels) for w in n.wall] for n in plan.record.nodes}
    assert stored == {
        "node0": [("", None)], "node1": [("wall/node1.0", None)], "node2": [("wall/node2.0", [1, 2])],
        "node3": [("wall/node2.0", [3]), ("wall/node3.1", None)],
    }  # fmt: skip
