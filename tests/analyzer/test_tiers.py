"""Measurement tiers (powerlog.tiers, analyzer.tier): what the wall power was measured with, from the meter URL
and from a result folder's own files, and what the rules, the official verdict, report, scan and compare say of it.

The folders are published results copied into tmp_path and changed the way each tier's folder differs: an
Identify reply that mlpower-ptd wrote, a session record naming a Redfish meter, no wall samples but component
counters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzer.checks import check_run
from analyzer.cli import main
from analyzer.context import result_context
from analyzer.official import official_checks, official_verdict
from analyzer.report import build_report
from analyzer.run import RunData, load_run
from analyzer.tier import measurement_tier, meter_url_of
from director.meters.registry import meter_models, tier_of_url
from director.ptd_front.instrument import identify_reply
from powerlog.cli_support import package_version
from powerlog.ptd_identity import ACCEPTED_ANALYZERS, parse_identify_reply
from powerlog.run_record import MeterRecord, SessionJson, write_session_json
from powerlog.spl import SPL_FIELDS
from powerlog.sut_samples import SAMPLES_DIR, write_parquet
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier, tier_description, tier_of_meter, tier_of_meter_url
from tests.support.folders import edit_json
from tests.support.paths import DATA_DIR, FIXTURES

PTD = MeasurementTier.PTDAEMON
DIRECT = MeasurementTier.DIRECT
BMC = MeasurementTier.BMC
COMPONENTS = MeasurementTier.COMPONENTS
REDFISH_URL = "redfish://10.0.0.5:443/System.Embedded.1?rate=1"
# a v5.1 result that passes the official checker of its round (tests/data/mlperf-results-v4.1-v5.1/expected.jsonl)
RECENT = (
    DATA_DIR / "mlperf-results-v4.1-v5.1/v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/whisper/Offline/performance"
)


# the meter URL -> the tier -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "tier"),
    [
        ("ptd://127.0.0.1:8888", PTD),
        ("serial:///dev/ttyUSB0?model=wt310&rate=0.1", DIRECT),
        ("serial+socket://10.0.0.9:4001?model=wt310", DIRECT),
        ("sim://?rate=0.1", DIRECT),
        ("sim://", DIRECT),
        (REDFISH_URL, BMC),
        ("redfish://[fe80::1]:8000/1?protocol=http", BMC),
        ("none://", MeasurementTier.COMPONENTS),  # no wall meter
    ],
)
def test_each_scheme_has_its_tier(url: str, tier: MeasurementTier) -> None:
    assert tier_of_meter_url(url) is tier
    assert tier_of_url(url) is tier  # the director's, from the models' declarations: the same


def test_every_declared_analyzer_device_type_is_one_the_rules_accept() -> None:
    """A driver of a real analyzer declares PTDaemon device types; the rules' list (powerlog) holds every one."""
    declared = [t for model in meter_models() for t in model.device_types]
    assert declared and set(declared) <= set(ACCEPTED_ANALYZERS)


@pytest.mark.parametrize(
    ("url", "tier"),
    [
        ("ptd://a:8888 + ptd://b:8888", PTD),
        ("ptd://a:8888 + serial:///dev/ttyUSB0?model=wt310", DIRECT),
        ("serial:///dev/ttyUSB0?model=wt310 + ptd://a:8888", DIRECT),  # the order does not matter
        ("ptd://a:8888 + redfish://bmc/1U", BMC),
        ("redfish://bmc/1U + sim://", BMC),
        ("ptd://a:8888 + serial:///dev/ttyUSB0?model=wt310 + redfish://bmc/1U", BMC),
        ("  ptd://a:8888   +   sim://  ", DIRECT),  # spaces around the parts
        ("redfish://bmc/1U + none://", MeasurementTier.COMPONENTS),  # the director refuses it; a record may not
    ],
)
def test_joined_urls_take_the_weakest_tier(url: str, tier: MeasurementTier) -> None:
    assert tier_of_meter_url(url) is tier


@pytest.mark.parametrize(
    ("url", "tier"),
    [
        ("", None),
        ("/dev/ttyUSB0", None),  # no scheme: not an mlpower meter URL
        ("ftp://host/file", None),
        ("C:\\power-dev\\ptd-windows-x86.exe -p 8888", None),  # a PTDaemon command line, as power-dev records it
        ("ftp://host/file + ptd://a:8888", PTD),  # an unknown part is left out, the known ones decide
        ("ftp://host/file + redfish://bmc/1U", BMC),
    ],
)
def test_unknown_schemes_have_no_tier(url: str, tier: MeasurementTier | None) -> None:
    assert tier_of_meter_url(url) is tier


def test_only_a_bmc_and_components_are_informative_and_every_tier_is_described() -> None:
    assert {BMC, COMPONENTS} == INFORMATIVE_TIERS
    for tier in MeasurementTier:
        description = tier_description(tier)
        assert description and ("informative" in description) == (tier in INFORMATIVE_TIERS), tier
    assert "PTDaemon" in tier_description(PTD) and "Redfish" in tier_description(BMC)


# folders -> the tier -------------------------------------------------------------------------------------
def _copy(source: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name / "performance"
    shutil.copytree(source, target)
    return target


def mlpower_ptd_folder(tmp_path: Path) -> Path:
    """A PTDaemon result whose Identify reply is the one mlpower-ptd gives (mlpower's driver behind the PTDaemon
    protocol): the analyzer was read directly, not through SPEC PTDaemon."""
    folder = _copy(FIXTURES["xe8545_resnet_offline"], tmp_path, "mlpower-ptd")
    reply = identify_reply(
        "YokogawaWT500_multichannel", f"mlpower-ptd-{package_version()}", 1, False, "YOKOGAWA,760203,U1J802935,F1.21"
    )

    def edit(server: dict) -> None:
        (message,) = [m for m in server["ptd_messages"] if m["cmd"] == "Identify"]
        message["reply"] = reply

    edit_json(folder / "power" / "server.json", edit)
    return folder


def redfish_session_folder(tmp_path: Path, name: str = "redfish") -> Path:
    """A result with mlpower's session record naming a Redfish meter, as the director writes it."""
    folder = _copy(FIXTURES["xe8545_resnet_offline"], tmp_path, name)
    record = SessionJson(state="closed", tier=BMC, meter=MeterRecord(url=REDFISH_URL))
    write_session_json(folder / "session.json", record)
    return folder


def redfish_client_folder(tmp_path: Path) -> Path:
    """A result power-dev's client wrote against mlpower's director (no session.json): server.json's
    ptd_config command is the director's meter URL."""
    folder = _copy(FIXTURES["xe8545_resnet_offline"], tmp_path, "redfish-client")

    def edit(server: dict) -> None:
        server["ptd_config"]["command"] = [REDFISH_URL]

    edit_json(folder / "power" / "server.json", edit)
    return folder


def components_folder(tmp_path: Path, keep_wall: bool = False) -> Path:
    """A result with RAPL counter readings in samples/ and, unless ``keep_wall``, no wall samples at all."""
    folder = _copy(FIXTURES["xe8545_resnet_offline"], tmp_path, "components" + ("-and-wall" if keep_wall else ""))
    if not keep_wall:
        for phase in ("ranging", "run_1"):
            (folder / phase / "spl.txt").unlink()
    (folder / SAMPLES_DIR).mkdir()
    t_utc_ns = 1_660_000_000_000_000_000 + np.arange(120, dtype=np.int64) * 1_000_000_000
    write_parquet(
        folder / SAMPLES_DIR / "rapl.package-0.energy.parquet", {"t_utc_ns": t_utc_ns, "energy_j": np.arange(120.0)}
    )
    return folder


def _load(folder: Path) -> RunData:
    return load_run(folder, spl_fields=SPL_FIELDS, hash_files=True, marks=True)


def test_published_ptdaemon_results_are_ptdaemon() -> None:
    for folder in (*FIXTURES.values(), RECENT):
        run = _load(folder)
        assert meter_url_of(run) is None, folder  # recorded by power-dev's own server: no mlpower meter URL
        assert measurement_tier(run) is PTD, folder


def test_an_mlpower_ptd_identify_is_a_directly_read_analyzer(tmp_path: Path) -> None:
    run = _load(mlpower_ptd_folder(tmp_path))
    assert measurement_tier(run) is DIRECT


def test_an_mlpower_ptd_identify_wins_over_a_ptd_meter_url(tmp_path: Path) -> None:
    """The director's URL says ptd:// (a PTDaemon-protocol server), the Identify reply says which one it was."""
    folder = mlpower_ptd_folder(tmp_path)
    write_session_json(folder / "session.json", SessionJson(meter=MeterRecord(url="ptd://127.0.0.1:8888")))
    run = _load(folder)
    assert meter_url_of(run) == "ptd://127.0.0.1:8888" and measurement_tier(run) is DIRECT


@pytest.mark.parametrize(
    ("url", "version", "tier"),
    [
        ("ptd://127.0.0.1:8888", "mlpower-ptd", MeasurementTier.DIRECT),
        ("ptd://127.0.0.1:8888", "1.9.2", MeasurementTier.PTDAEMON),
        ("ptd://127.0.0.1:8888", None, MeasurementTier.PTDAEMON),
        (None, "mlpower-ptd", MeasurementTier.DIRECT),
        (None, None, None),
        ("redfish://10.0.0.5/1", "mlpower-ptd", MeasurementTier.BMC),  # never raised above the URL's tier
        ("ptd://a:1 + redfish://b/1", "mlpower-ptd", MeasurementTier.BMC),
    ],
)
def test_the_meter_tier_takes_what_the_meter_said(url: str | None, version: str | None, tier) -> None:
    """What the director records in session.json and shows live: the URL, and the version the Identify reply
    gave (mlpower-ptd's, parsed as the PTDaemon driver parses it)."""
    if version == "mlpower-ptd":
        reply = identify_reply("YokogawaWT310", f"mlpower-ptd-{package_version()}", 1, False, "YOKOGAWA,WT310,1,F1")
        version = parse_identify_reply(reply).version
    assert tier_of_meter(url, version) is tier


def test_a_redfish_meter_is_a_bmc(tmp_path: Path) -> None:
    for folder in (redfish_session_folder(tmp_path), redfish_client_folder(tmp_path)):
        run = _load(folder)
        assert meter_url_of(run) == REDFISH_URL, folder
        assert measurement_tier(run) is BMC, folder


def test_component_counters_and_no_wall_samples_are_components(tmp_path: Path) -> None:
    run = _load(components_folder(tmp_path))
    assert [c.name for c in run.components] == ["rapl:package-0"]
    assert measurement_tier(run) is COMPONENTS
    # the same counters beside a wall meter's samples: the wall meter decides
    assert measurement_tier(_load(components_folder(tmp_path, keep_wall=True))) is PTD


def test_no_wall_samples_and_no_components_is_still_ptdaemon(tmp_path: Path) -> None:
    """Missing spl.txt alone is a broken PTDaemon result (the file rules say so), not a components-only one."""
    folder = _copy(FIXTURES["xe8545_resnet_offline"], tmp_path, "no-spl")
    for phase in ("ranging", "run_1"):
        (folder / phase / "spl.txt").unlink()
    assert measurement_tier(_load(folder)) is PTD


# what the rules, the official verdict and the report say -----------------------------------------------------
def _tier_finding(run: RunData):  # type: ignore[no-untyped-def]
    (finding,) = [f for f in check_run(run, result_context(run, None)) if f.rule == "8.tier"]
    return finding


@pytest.fixture
def folders(tmp_path: Path) -> dict[MeasurementTier, Path]:
    return {
        PTD: FIXTURES["xe8545_resnet_offline"],
        DIRECT: mlpower_ptd_folder(tmp_path),
        BMC: redfish_session_folder(tmp_path),
        COMPONENTS: components_folder(tmp_path),
    }


def test_rule_8_tier_passes_the_measured_tiers_and_fails_the_informative_ones(folders) -> None:
    for tier, folder in folders.items():
        finding = _tier_finding(_load(folder))
        assert finding.message.startswith(f"{tier.value}: ") and tier_description(tier) in finding.message
        assert dict(finding.evidence[0].values) == {"tier": tier.value}
        if tier in INFORMATIVE_TIERS:
            assert finding.is_error, tier
            assert "informative" in finding.message
        else:
            assert finding.status.value == "pass" and not finding.is_error, tier


def test_the_official_verdict_fails_an_informative_tier_and_says_why(folders) -> None:
    for tier, folder in folders.items():
        run = _load(folder)
        checks = official_checks(run, result_context(run, None).round)
        tier_checks = [c for c in checks if c.check == "tier"]
        if tier not in INFORMATIVE_TIERS:
            assert tier_checks == [], tier
            continue
        (check,) = tier_checks
        assert check.outcome.value == "fail" and check.message == f"{tier.value}: {tier_description(tier)}"
        assert official_verdict(checks) == "fail"


def test_a_bmc_copy_of_a_passing_result_fails_officially_for_the_tier_alone(folders) -> None:
    """The published result passes the official checker; the same files, read through Redfish, fail only on
    the tier: it is the one failing official check, and the verdict would be a pass without it."""
    published = _load(FIXTURES["xe8545_resnet_offline"])
    assert official_verdict(official_checks(published, result_context(published, None).round)) == "pass"
    run = _load(folders[BMC])
    checks = official_checks(run, result_context(run, None).round)
    assert [c.check for c in checks if c.outcome.value == "fail"] == ["tier"]
    assert official_verdict(c for c in checks if c.check != "tier") == "pass"


def test_report_names_the_tier_and_marks_informative_ones(folders, capsys: pytest.CaptureFixture[str]) -> None:
    for tier, folder in folders.items():
        report = build_report(_load(folder), None).to_json_obj()
        assert report["tier"] == tier.value and report["informative"] == (tier in INFORMATIVE_TIERS)
        main(["report", str(folder)])
        (line,) = [line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("Tier")]
        assert tier.value in line and tier_description(tier) in line
        assert ("INFORMATIVE" in line) == (tier in INFORMATIVE_TIERS), line


def test_check_text_gives_the_official_tier_reason(folders, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(folders[BMC])]) == 1
    out = capsys.readouterr().out
    assert f"official fail: Measurement tier: bmc: {tier_description(BMC)}" in out
    assert "official verdict: FAIL" in out
    main(["check", str(folders[PTD])])
    out = capsys.readouterr().out
    assert "official verdict: PASS" in out and "official fail: Measurement tier" not in out


# scan and compare ------------------------------------------------------------------------------------------
def _table(text: str) -> tuple[list[str], list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].split(), lines[1:]


def test_scan_and_compare_show_the_tier_where_a_result_is_not_ptdaemon(
    folders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path  # holds the copies: mlpower-ptd (direct), redfish (bmc), components
    for command in ("scan", "compare"):
        extra = ["--no-progress", "--jobs", "1"] if command == "scan" else []
        main([command, str(root), *extra])
        header, rows = _table(capsys.readouterr().out)
        assert "tier" in header, (command, header)
        by_name = {name: next(r for r in rows if name in r) for name in ("mlpower-ptd", "redfish", "components")}
        assert by_name["mlpower-ptd"].split().count("direct") == 1, by_name
        assert "bmc" in by_name["redfish"].split() and "components" in by_name["components"].split()[1:]
        main([command, "--json", str(root), *extra])
        out = capsys.readouterr().out
        listed = json.loads(out) if command == "compare" else [json.loads(line) for line in out.splitlines()]
        tiers = {Path(r["path"]).parent.name: r["tier"] for r in listed}
        assert tiers == {"mlpower-ptd": "direct", "redfish": "bmc", "components": "components"}, command


def test_scan_and_compare_leave_the_tier_out_when_every_result_is_ptdaemon(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = str(FIXTURES["xe8545_resnet_offline"])
    for argv in (["scan", folder, "--no-progress"], ["compare", folder]):
        main(argv)
        header, _ = _table(capsys.readouterr().out)
        assert "tier" not in header, argv
