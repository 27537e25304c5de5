"""The power submission rules: which run, in what order, how each relates to the official checker, and
the verdict. The rules themselves live in :mod:`analyzer.rules`, one module per rule family, one
function per rule group, each returning findings.

Rule ids follow section 5 of the MLPerf power reference (``4.power_change`` is
rule 4). ``0.*`` are mlpower's own: files that cannot be read, what went wrong while recording,
and consistency checks the official checker does not make. Every rule is pure: it reads
:class:`RunData` and returns findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from analyzer.context import ResultContext, as_context
from analyzer.findings import Finding, Official, Status
from analyzer.official import OfficialCheck, official_verdict
from analyzer.rounds import Round
from analyzer.rules.clock import check_clocks, check_window_in_phase
from analyzer.rules.common import Check
from analyzer.rules.consistency import check_consistency, check_gpus
from analyzer.rules.files import check_files, check_windows
from analyzer.rules.identity import check_analyzer
from analyzer.rules.loadgen import check_loadgen
from analyzer.rules.power import check_ranging_vs_testing
from analyzer.rules.ptd_commands import check_ptd_commands, ranging_peaks
from analyzer.rules.ptd_log import check_ptd_errors, check_uncertainty
from analyzer.rules.records import check_session
from analyzer.rules.reliability import (
    check_interrupted,
    check_meter_gaps,
    check_node_gaps,
    check_sut_link,
    check_system_wall,
)
from analyzer.rules.samples import check_line_merge, check_samples
from analyzer.run import RunData
from powerlog.result_record import CheckRecord, QuantityRecord

__all__ = ["OFFICIAL_RELATION", "RULES", "check_run", "check_summary", "official_relation", "ranging_peaks", "verdict"]


RULES: tuple[Check, ...] = (
    check_files,
    check_windows,
    check_loadgen,
    check_samples,
    check_line_merge,
    check_ranging_vs_testing,
    check_window_in_phase,
    check_clocks,
    check_analyzer,
    check_ptd_commands,
    check_uncertainty,
    check_ptd_errors,
    check_session,
    check_consistency,
    check_gpus,
    check_meter_gaps,
    check_sut_link,
    check_node_gaps,
    check_system_wall,
    check_interrupted,
)


# How the official power checker treats each mlpower rule (docs/metrics-and-rules.md gives the reasons).
OFFICIAL_RELATION: dict[str, Official] = {
    "1.files": Official.SAME,
    "1.window": Official.SAME,
    "2.scenario": Official.MLPOWER,
    "2.validity": Official.MLPOWER,
    "2.min_duration": Official.MLPOWER,
    "3.samples": Official.SAME,
    "3.plausible": Official.MLPOWER,
    "3.sample_rate": Official.MLPOWER,
    "3.sample_gap": Official.MLPOWER,
    "4.power_change": Official.SAME,
    "5.duration": Official.SAME,
    "6.window_in_phase": Official.STRICTER,
    "7.checkpoints": Official.STRICTER,
    "7.ntp": Official.MLPOWER,
    "7.clock_offset": Official.MLPOWER,
    "7.clock_step": Official.MLPOWER,
    "8.analyzer": Official.SAME,
    "8.ptd_version": Official.SAME,
    "8.ptd_config": Official.SAME,
    "8.ptd_used": Official.MLPOWER,
    "8.tier": Official.MLPOWER,
    "9.go": Official.STRICTER,
    "9.replies": Official.SAME,  # per analyzer; the official checker counts Stops over all analyzers
    "9.ranging_ranges": Official.MLPOWER,
    "9.testing_ranges": Official.MLPOWER,
    "9.restore": Official.DIFFERS,
    "10.activated": Official.SAME,
    "10.testing_uncertainty": Official.STRICTER,
    "11.errors": Official.STRICTER,
    "12.uuid": Official.SAME,
    "12.session_name": Official.SAME,
    "12.messages": Official.SAME,
    "12.results": Official.SAME,
    "12.sources": Official.SAME,
    "13.debug": Official.SAME,
}


def official_relation(rule: str, round_: Round) -> Official:
    """How the official checker of ``round_`` treats ``rule``; every ``0.*`` rule is mlpower's own."""
    if rule == "7.checkpoints" and round_.checkpoint_tolerance_ms >= round_.official_checkpoint_tolerance_ms:
        return Official.SAME
    return OFFICIAL_RELATION.get(rule, Official.MLPOWER)


def check_run(run: RunData, round_: Round | ResultContext | str | None = None) -> tuple[Finding, ...]:
    """Every rule the folder's files allow, in rule order, load problems first, each marked with how the
    official checker treats it. ``round_`` as for :func:`analyzer.report.build_report`."""
    context = as_context(run, round_)
    findings: list[Finding] = list(run.problems)
    for rule in RULES:
        findings.extend(rule(run, context.round))
    return tuple(replace(f, official=official_relation(f.rule, context.round)) for f in findings)


def verdict(findings: Iterable[Finding]) -> Status:
    """FAIL when any finding is an error, else PASS."""
    return Status.FAIL if any(f.is_error for f in findings) else Status.PASS


def check_summary(
    run: RunData,
    context: ResultContext,
    findings: Sequence[Finding],
    official: Sequence[OfficialCheck],
    power_metric: QuantityRecord | None = None,
) -> CheckRecord:
    """``check --json``: mlpower's verdict (the stricter audit) and the official checker's, with both lists, and
    the power metric they judge (with its error bar) where the caller has the report."""
    optional = {"power_metric": power_metric} if power_metric is not None else {}
    return CheckRecord(
        folder=str(run.folder.root),
        round=context.round.name,
        round_source=context.round_source,
        benchmark=context.benchmark,
        scenario=context.scenario.value if context.scenario else None,
        loadgen_scenario=context.loadgen_scenario.value if context.loadgen_scenario else None,
        inferred=context.inferred,
        verdict=verdict(findings).value,
        official_verdict=official_verdict(official),
        errors=sum(1 for f in findings if f.is_error),
        findings=[f.to_record() for f in findings],
        official_checks=[c.to_record() for c in official],
        **optional,
    )
