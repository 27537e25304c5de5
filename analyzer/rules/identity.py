"""8. The analyzer, the PTDaemon version and its configuration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from analyzer.context import ResultMeter, meter_identity
from analyzer.findings import Evidence, Finding, Severity, Status
from analyzer.rounds import ACCEPTED_ANALYZERS, Round
from analyzer.run import RunData
from analyzer.tier import measurement_tier
from powerlog.tiers import INFORMATIVE_TIERS, tier_description

__all__ = ["check_analyzer"]

# 8. analyzer and PTDaemon ------------------------------------------------------------


def check_analyzer(run: RunData, round_: Round) -> Iterable[Finding]:
    yield _check_tier(run)
    meter = meter_identity(run)
    findings = list(_check_identity(meter, round_))
    why = ""
    if meter.ptd_version is not None and meter.ptd_version.startswith("mlpower-ptd"):
        why = (
            " (expected: the analyzer was served by mlpower-ptd, mlpower's PTDaemon-protocol server, not SPEC PTDaemon)"
        )
    elif meter.simulated:
        why = " (expected: the run used mlpower's simulated analyzer, which no round accepts)"
    if why:
        findings = [replace(f, message=f.message + why) if f.status is Status.FAIL else f for f in findings]
    yield from findings
    yield from _check_ptd_config(run)


def _check_identity(meter: ResultMeter, round_: Round) -> Iterable[Finding]:
    if meter.identify_reply is None:
        yield Finding.skipped("8.analyzer", "Analyzer model accepted", "no Identify reply in power/server.json")
        yield Finding.skipped("8.ptd_version", "PTDaemon version accepted", "no Identify reply in power/server.json")
        return
    ev = Evidence(file="power/server.json", values={"identify": meter.identify_reply})
    if meter.model in ACCEPTED_ANALYZERS:
        yield Finding.passed("8.analyzer", "Analyzer model accepted", f"{meter.model} is an accepted analyzer", ev)
    else:
        yield Finding.failed(
            "8.analyzer",
            "Analyzer model accepted",
            Severity.ERROR,
            f"{meter.model!r} is not in the accepted list ({', '.join(ACCEPTED_ANALYZERS)})",
            ev,
        )
    title = f"PTDaemon version accepted for round {round_.name}"
    if meter.ptd_version in round_.ptd_versions:
        yield Finding.passed("8.ptd_version", title, f"PTDaemon {meter.ptd_version}", ev)
    else:
        yield Finding.failed(
            "8.ptd_version",
            title,
            Severity.ERROR,
            f"PTDaemon {meter.ptd_version} is not accepted in {round_.name} "
            f"(accepted: {', '.join(round_.ptd_versions)}); pass --round if the result is from another round",
            ev,
        )


def _check_ptd_config(run: RunData) -> Iterable[Finding]:
    configs = run.server.ptd_configs if run.server else ()
    if not configs:
        yield Finding.skipped("8.ptd_config", "PTDaemon configuration", "power/server.json has no ptd_config")
        return
    for config in configs:
        ev = Evidence(
            file="power/server.json", values={"device_type": config.device_type, "channels": list(config.channels)}
        )
        model_numbers = set(ACCEPTED_ANALYZERS.values())
        if config.device_type not in model_numbers:
            yield Finding.failed(
                "8.ptd_config",
                "PTDaemon configuration",
                Severity.ERROR,
                f"device type {config.device_type} is not an accepted analyzer",
                ev,
            )
        elif config.device_type == ACCEPTED_ANALYZERS["YokogawaWT330_multichannel"] and len(config.channels) != 2:
            yield Finding.failed(
                "8.ptd_config",
                "PTDaemon configuration",
                Severity.ERROR,
                "WT330 multichannel (device type 77) must be configured with two channels",
                ev,
            )
        else:
            yield Finding.passed(
                "8.ptd_config",
                "PTDaemon configuration",
                f"device type {config.device_type}, channels {config.channels}",
                ev,
            )


def _check_tier(run: RunData) -> Finding:
    """Informative tiers (a BMC or PDU, component counters only) are measured and checked, never a result."""
    tier = measurement_tier(run)
    title = "Measurement tier"
    ev = Evidence(values={"tier": tier.value})
    message = f"{tier.value}: {tier_description(tier)}"
    if tier in INFORMATIVE_TIERS:
        return Finding.failed("8.tier", title, Severity.ERROR, message, ev)
    return Finding.passed("8.tier", title, message, ev)
