"""Rule findings: what a check concluded, how bad it is, and the evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from powerlog.result_record import EvidenceRecord, FindingRecord

__all__ = ["Evidence", "Finding", "Official", "Severity", "Status"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(StrEnum):
    PASS = "pass"  # the rule holds
    FAIL = "fail"  # the rule is broken (severity says how badly)
    SKIPPED = "skipped"  # the rule cannot be checked from these files (the message says why)


@dataclass(frozen=True)
class Evidence:
    file: str | None = None
    line: int | None = None
    values: dict[str, Any] = field(default_factory=dict)


class Official(StrEnum):
    """How the official power checker of the round treats a rule (see docs/metrics-and-rules.md)."""

    SAME = "same"  # the official checker enforces this rule the same way
    STRICTER = "stricter"  # mlpower applies it more strictly or more completely
    DIFFERS = "differs"  # both check it, but not in the same way
    MLPOWER = "mlpower"  # the official power checker lacks the rule


@dataclass(frozen=True)
class Finding:
    rule: str
    title: str
    status: Status
    severity: Severity
    message: str
    evidence: tuple[Evidence, ...] = ()
    official: Official | None = None  # filled in by check_run from the rule table

    @classmethod
    def passed(cls, rule: str, title: str, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.PASS, Severity.INFO, message, evidence)

    @classmethod
    def failed(cls, rule: str, title: str, severity: Severity, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.FAIL, severity, message, evidence)

    @classmethod
    def skipped(cls, rule: str, title: str, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.SKIPPED, Severity.INFO, message, evidence)

    @property
    def is_error(self) -> bool:
        return self.status is Status.FAIL and self.severity is Severity.ERROR

    def to_record(self) -> FindingRecord:
        """As result.json and ``--json`` give it; an evidence's empty fields are left out."""
        return FindingRecord(
            rule=self.rule,
            title=self.title,
            status=self.status.value,
            severity=self.severity.value,
            message=self.message,
            evidence=[
                EvidenceRecord(**{k: v for k, v in asdict(e).items() if v not in (None, {})}) for e in self.evidence
            ],
            official=self.official.value if self.official else None,
        )


def _evidence_record(e: Evidence) -> EvidenceRecord:
    return EvidenceRecord(**{k: v for k, v in asdict(e).items() if v not in (None, {})})
